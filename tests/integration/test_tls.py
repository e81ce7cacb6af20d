"""The tls role's three CA modes on this machine (two parties on loopback, files in a temporary
directory): who signs whom, who trusts whom, where the keys are, and a second run that changes
nothing. Only the tls role runs (--tags tls), so no SecretFlow is needed."""
import base64
import os
import re
import stat
import textwrap

from cryptography import x509

from runner import ROOT, ansible_playbook, changed_counts


def _run(inventory, *extra):
    return ansible_playbook('-i', inventory, os.path.join(ROOT, 'playbooks', 'production.yml'), '--tags', 'tls', *extra)


def _inventory(tmp_path, **hostvars):
    inventory = tmp_path / 'hosts.yml'
    inventory.write_text(textwrap.dedent('''
        secretflow:
          vars:
            ansible_connection: local
            ansible_python_interpreter: "{{{{ ansible_playbook_python }}}}"
            federation_address: 127.0.0.1
            federation_port_base: 30000
            tls_dir: {tmp}/{{{{ inventory_hostname }}}}
            tls_owner: "{{{{ ansible_facts['user_id'] }}}}"
            tls_group: "{{{{ ansible_facts['user_gid'] }}}}"
            tls_os_packages: []
            firewall_backend: none
          children:
            alice: {{hosts: {{a1: {a1}}}}}
            bob: {{hosts: {{b1: {b1}}}}}
    ''').format(tmp=tmp_path, a1=hostvars.get('a1', '{}'), b1=hostvars.get('b1', '{}')))
    return inventory


def _cert(path):
    return x509.load_pem_x509_certificate(open(path, 'rb').read())


def _bundle(path):
    return x509.load_pem_x509_certificates(open(path, 'rb').read())


def _signed_by(cert, ca):
    try:
        cert.verify_directly_issued_by(ca)
        return True
    except Exception:
        return False


def _check_idempotent(inventory):
    again = _run(inventory)
    assert again.returncode == 0, again.stdout[-3000:]
    assert set(changed_counts(again.stdout)) == {0}, again.stdout[-3000:]


def test_each_party_has_its_own_ca_and_trusts_only_the_peers(tmp_path):
    inventory = _inventory(tmp_path)
    proc = _run(inventory)
    assert proc.returncode == 0, proc.stdout[-3000:]
    for me, peer in (('a1', 'b1'), ('b1', 'a1')):
        d, p = tmp_path / me, tmp_path / peer
        assert _signed_by(_cert(d / 'node.crt'), _cert(d / 'ca.crt'))
        assert [c.subject for c in _bundle(d / 'peers-ca.pem')] == [_cert(p / 'ca.crt').subject]
        assert _signed_by(_cert(p / 'node.crt'), _bundle(d / 'peers-ca.pem')[0])
        for key in ('node.key', 'ca.key'):
            assert stat.S_IMODE(os.stat(d / key).st_mode) == 0o600
        sans = _cert(d / 'node.crt').extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert '127.0.0.1' in [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)]
    assert 'PRIVATE KEY' not in proc.stdout
    _check_idempotent(inventory)
    # A trust file whose mode was changed, and one whose text was: each is put right (sf_tls_trust),
    # the other heads' files left alone, and the text's change shown with --diff.
    trusted = {me: (tmp_path / me / 'peers-ca.pem').read_text() for me in ('a1', 'b1')}
    os.chmod(tmp_path / 'a1' / 'peers-ca.pem', 0o600)
    with open(tmp_path / 'b1' / 'peers-ca.pem', 'a') as f:
        f.write('not a certificate\n')
    fixed = _run(inventory, '--diff')
    assert fixed.returncode == 0, fixed.stdout[-3000:]
    assert '+not a certificate' not in fixed.stdout and '-not a certificate' in fixed.stdout, fixed.stdout[-3000:]
    changed = dict(re.findall(r'^(a1|b1)\s+: ok=\d+\s+changed=(\d+)', fixed.stdout, re.M))
    assert changed == {'a1': '1', 'b1': '1'}, fixed.stdout[-3000:]
    for me in ('a1', 'b1'):
        assert (tmp_path / me / 'peers-ca.pem').read_text() == trusted[me]
        assert stat.S_IMODE(os.stat(tmp_path / me / 'peers-ca.pem').st_mode) == 0o644
    _check_idempotent(inventory)


def _key_traces(paths):
    """What of each private key file would show in a run's output: a line of its PEM body, and
    a stretch of the file in base64, past the header every key shares (as slurp would carry it)."""
    traces = []
    for path in paths:
        data = open(path, 'rb').read()
        traces += [data.decode().splitlines()[1], base64.b64encode(data).decode()[80:160]]
    return traces


def test_a_shared_ca_signs_every_head_from_its_csr(tmp_path):
    inventory = _inventory(tmp_path)
    # -vvv --diff: every module's arguments, results and file changes are printed; no key may be among them.
    proc = _run(inventory, '-vvv', '--diff', '-e', 'tls_ca_mode=shared')
    assert proc.returncode == 0, proc.stdout[-3000:]
    ca = _cert(tmp_path / 'a1' / 'ca.crt')  # the first party's head holds the CA
    assert not (tmp_path / 'b1' / 'ca.key').exists()
    # Keys stay where they were made: the CA's and a1's on a1, b1's on b1; none in the output.
    keys = [tmp_path / 'a1' / 'ca.key', tmp_path / 'a1' / 'node.key', tmp_path / 'b1' / 'node.key']
    assert not [t for t in _key_traces(keys) if t in proc.stdout]
    assert sorted(p.name for p in (tmp_path / 'b1').iterdir() if p.name.endswith('.key')) == ['node.key']
    for me in ('a1', 'b1'):
        assert _signed_by(_cert(tmp_path / me / 'node.crt'), ca)
        assert [c.subject for c in _bundle(tmp_path / me / 'peers-ca.pem')] == [ca.subject]
    again = _run(inventory, '-e', 'tls_ca_mode=shared')
    assert again.returncode == 0 and set(changed_counts(again.stdout)) == {0}, again.stdout[-3000:]


def test_user_supplied_files_are_installed_without_showing_the_key(tmp_path):
    made = tmp_path / 'made'
    made.mkdir()
    first = _inventory(made)  # made by the role, then handed over as the user's files
    assert _run(first).returncode == 0
    user = '{tls_ca_mode: user, tls_user_cert_src: %s/%%s/node.crt, tls_user_key_src: %s/%%s/node.key, ' \
           'tls_user_ca_src: %s/%%s/peers-ca.pem}' % (made, made, made)
    inventory = _inventory(tmp_path, a1=user % ('a1', 'a1', 'a1'), b1=user % ('b1', 'b1', 'b1'))
    proc = _run(inventory, '-vvv', '--diff')
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert not [t for t in _key_traces([made / 'a1' / 'node.key', made / 'b1' / 'node.key']) if t in proc.stdout]
    for me in ('a1', 'b1'):
        assert open(tmp_path / me / 'node.crt').read() == open(made / me / 'node.crt').read()
        assert stat.S_IMODE(os.stat(tmp_path / me / 'node.key').st_mode) == 0o600
        # The installed key is the user's, byte for byte.
        assert open(tmp_path / me / 'node.key', 'rb').read() == open(made / me / 'node.key', 'rb').read()
        assert open(made / me / 'node.key').read().splitlines()[1] not in proc.stdout
    _check_idempotent(inventory)
