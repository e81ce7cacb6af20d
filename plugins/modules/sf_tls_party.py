#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sfdeploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: sf_tls_party
short_description: A party head's CA, key and certificate (a CA per party), in one call
version_added: "0.1.0"
description:
  - On a party head, in I(dir) - its own CA (C(ca.key), C(ca.crt)), its private key (C(node.key)) and its
    certificate (C(node.crt)) signed by that CA for the names peers dial, with serverAuth and clientAuth.
  - Keys are generated here (RSA 3072, mode 0600) and never returned; only the CA certificate is (as
    C(content), base64, the shape of C(ansible.builtin.slurp)), so that the controller can hand it to the
    peers.
  - Existing files are kept when they fit - the certificate is issued again only when it is missing, does not
    match the key, was not signed by this CA, names other addresses, or expires within I(renew_before_days).
  - Needs the Python C(cryptography) library on the host (the C(tls) role's I(tls_os_packages)).
author:
  - sfdeploy contributors (@sfdeploy)
extends_documentation_fragment:
  - sfdeploy.secretflow.owned_files
options:
  dir:
    description: The party's TLS directory.
    type: path
    required: true
  party:
    description: The party (the certificate's common name).
    type: str
    required: true
  sans:
    description: subjectAltName entries, C(IP:address) or C(DNS:name).
    type: list
    elements: str
    required: true
  validity_days:
    description: Validity of a new certificate.
    type: int
    default: 365
  renew_before_days:
    description: Issue the certificate again when it expires within this many days.
    type: int
    default: 30
  ca_validity_days:
    description: Validity of a new CA certificate.
    type: int
    default: 3650
attributes:
  check_mode:
    description: Can run in check mode and report what it would change without changing it.
    support: full
  diff_mode:
    description: Reports what it changes (or would change in check mode) with --diff.
    support: none
'''

EXAMPLES = r'''
- name: Issue this head's certificate with its party's CA
  sfdeploy.secretflow.sf_tls_party:
    dir: /etc/sfdeploy/tls/alice
    party: alice
    sans: ["IP:10.0.1.10", "DNS:alice-1"]
'''

RETURN = r'''
content:
  description: The CA certificate (PEM), base64-encoded; empty in check mode when there is none yet.
  returned: always
  type: str
actions:
  description: What was (or would be) made - C(node key), C(CA key), C(CA certificate), C(certificate (reason)).
  returned: always
  type: list
  elements: str
'''

import base64
import datetime
import ipaddress
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sfdeploy.secretflow.plugins.module_utils.files import OwnedFiles, read

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    HAS_CRYPTOGRAPHY = True
except ImportError:
    HAS_CRYPTOGRAPHY = False

KEY_BITS = 3072


def _now():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def _not_after(cert):
    value = getattr(cert, 'not_valid_after_utc', None)
    return value.replace(tzinfo=None) if value is not None else cert.not_valid_after


def _public(key):
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _san_entries(cert):
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    out = set('DNS:%s' % n for n in ext.get_values_for_type(x509.DNSName))
    out |= set('IP:%s' % a for a in ext.get_values_for_type(x509.IPAddress))
    return out


def _general_names(sans):
    names = []
    for entry in sans:
        kind, _sep, value = entry.partition(':')
        if kind.upper() == 'IP':
            names.append(x509.IPAddress(ipaddress.ip_address(value)))
        else:
            names.append(x509.DNSName(value))
    return names


def _normal_sans(sans):
    out = set()
    for entry in sans:
        kind, _sep, value = entry.partition(':')
        if kind.upper() == 'IP':
            out.add('IP:%s' % ipaddress.ip_address(value))
        else:
            out.add('DNS:%s' % value)
    return out


def _signed_by(cert, ca_cert):
    if cert.issuer != ca_cert.subject:
        return False
    try:
        ca_cert.public_key().verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(),
                                    cert.signature_hash_algorithm)
        return True
    except Exception:
        return False


def _key(files, name, actions, check):
    """The private key in ``name``, made when missing (None in check mode then)."""
    data = read(files.path(name), binary=True)
    if data is not None:
        if files.fix_attributes(name, 0o600):
            actions.append('%s attributes' % name)
        return serialization.load_pem_private_key(data, password=None)
    actions.append(name)
    if check:
        return None
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    files.write(name, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                        serialization.NoEncryption()), 0o600)
    return key


def _ca_cert(files, p, ca_key, actions, check):
    data = read(files.path('ca.crt'), binary=True)
    cert = x509.load_pem_x509_certificate(data) if data else None
    if cert is not None and ca_key is not None and _public(cert) == _public(ca_key) and _not_after(cert) > _now():
        if files.fix_attributes('ca.crt', 0o644):
            actions.append('ca.crt attributes')
        return cert
    actions.append('CA certificate')
    if check or ca_key is None:
        return None
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'sfdeploy %s CA' % p['party'])])
    now = _now()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=p['ca_validity_days']))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    files.write('ca.crt', cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return cert


def _why_issue(cert, key, ca_cert, sans, renew_before_days):
    """Why the node certificate must be issued again, or None."""
    if cert is None:
        return 'missing'
    if key is None or _public(cert) != _public(key):
        return 'another key'
    if ca_cert is None or not _signed_by(cert, ca_cert):
        return 'another CA'
    if _san_entries(cert) != _normal_sans(sans):
        return 'other names'
    if _not_after(cert) <= _now() + datetime.timedelta(days=renew_before_days):
        return 'expires within %d days' % renew_before_days
    return None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            dir=dict(type='path', required=True),
            party=dict(type='str', required=True),
            sans=dict(type='list', elements='str', required=True),
            owner=dict(type='str', default='root'),
            group=dict(type='str', default='root'),
            validity_days=dict(type='int', default=365),
            renew_before_days=dict(type='int', default=30),
            ca_validity_days=dict(type='int', default=3650),
        ),
        supports_check_mode=True)
    if not HAS_CRYPTOGRAPHY:
        if module.check_mode:
            # A fresh host in check mode: the tls role's package task has only reported that it
            # would install the library, so nothing here can be read; all of it is due.
            module.exit_json(changed=True, actions=['node.key', 'ca.key', 'CA certificate',
                                                    'certificate (python3-cryptography not installed yet)'],
                             content='')
        module.fail_json(msg='the Python cryptography library is missing on this host (python3-cryptography; the tls '
                             'role installs it as tls_os_packages)')
    p = module.params
    check = module.check_mode
    actions = []
    files = OwnedFiles(module, p['dir'], p['owner'], p['group'])
    if not os.path.isdir(files.dir):
        actions.append('directory')
        if check:
            module.exit_json(changed=True, actions=actions + ['node.key', 'ca.key', 'CA certificate',
                                                              'certificate (missing)'], content='')
        os.makedirs(files.dir, mode=0o750)
    st = os.stat(files.dir)
    if (st.st_mode & 0o7777, st.st_uid, st.st_gid) != (0o750, files.uid, files.gid):
        if 'directory' not in actions:
            actions.append('directory attributes')
        if not check:
            os.chown(files.dir, files.uid, files.gid)
            os.chmod(files.dir, 0o750)

    key = _key(files, 'node.key', actions, check)
    ca_key = _key(files, 'ca.key', actions, check)
    ca_cert = _ca_cert(files, p, ca_key, actions, check)
    data = read(files.path('node.crt'), binary=True)
    cert = x509.load_pem_x509_certificate(data) if data else None
    why = _why_issue(cert, key, ca_cert, p['sans'], p['renew_before_days'])
    if why:
        actions.append('certificate (%s)' % why)
        if not check and key is not None and ca_cert is not None:
            now = _now()
            subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, p['party'])])
            cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_cert.subject)
                    .public_key(key.public_key()).serial_number(x509.random_serial_number())
                    .not_valid_before(now - datetime.timedelta(minutes=5))
                    .not_valid_after(now + datetime.timedelta(days=p['validity_days']))
                    .add_extension(x509.SubjectAlternativeName(_general_names(p['sans'])), critical=False)
                    .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                    .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                                 key_encipherment=True, data_encipherment=False, key_agreement=False,
                                                 key_cert_sign=False, crl_sign=False, encipher_only=False,
                                                 decipher_only=False), critical=True)
                    .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                          ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                    .sign(ca_key, hashes.SHA256()))
            files.write('node.crt', cert.public_bytes(serialization.Encoding.PEM), 0o644)
    elif files.fix_attributes('node.crt', 0o644):
        actions.append('node.crt attributes')
    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM) if ca_cert is not None else b''
    module.exit_json(changed=bool(actions), actions=actions, content=base64.b64encode(ca_pem).decode())


if __name__ == '__main__':
    main()
