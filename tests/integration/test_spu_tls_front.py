"""SPU's TLS front (job_runner.start_tls_front) on this machine's loopback, with the real stunnel
and a stand-in for SPU (an echo server on the loopback port behind the front): a peer's
certificate gets through, a stranger's certificate and a cleartext client do not, a busy port
is a clear error, and stopping the front closes the port."""
import datetime
import ipaddress
import os
import shutil
import socket
import ssl
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ansible_collections.sfdeploy.secretflow.plugins.module_utils import job_config, job_runner
from netports import free_ports

FRONT_PORT, SPU_PORT = free_ports(2)
STUNNEL = shutil.which('stunnel4') or shutil.which('stunnel')


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(cn, key, issuer_cn, issuer_key, ca=False):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(issuer_cn))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(
            ipaddress.ip_address('127.0.0.1'))]), critical=False).add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path, cert=None, key=None):
    with open(path, 'wb') as f:
        if cert is not None:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        if key is not None:
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    os.chmod(path, 0o600)
    return str(path)


@pytest.fixture(scope='module')
def pki(tmp_path_factory):
    """alice's CA signs alice's certificate, bob's CA signs bob's; alice trusts bob's CA only."""
    d = tmp_path_factory.mktemp('pki')
    files = {}
    for party in ('alice', 'bob'):
        ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
        ca = _cert('%s CA' % party, ca_key, '%s CA' % party, ca_key, ca=True)
        files[party] = {'ca': ca, 'cert': _write(d / ('%s.crt' % party), _cert(party, key, '%s CA' % party, ca_key)),
                        'key': _write(d / ('%s.key' % party), key=key)}
    stranger_key = ec.generate_private_key(ec.SECP256R1())
    files['stranger'] = {'cert': _write(d / 'stranger.crt', _cert('mallory', stranger_key, 'mallory', stranger_key)),
                         'key': _write(d / 'stranger.key', key=stranger_key)}
    files['alice']['peers_ca'] = _write(d / 'alice-peers-ca.pem', files['bob']['ca'])
    files['bob']['peers_ca'] = _write(d / 'bob-peers-ca.pem', files['alice']['ca'])
    return files


@pytest.fixture(scope='module')
def spu_stand_in():
    """An echo server where SPU would listen, on the loopback behind the front."""
    server = socket.create_server(('127.0.0.1', SPU_PORT))

    def serve():
        while True:
            try:
                conn, _unused = server.accept()
            except OSError:
                return
            with conn:
                data = conn.recv(64)
                if data:
                    conn.sendall(b'spu:' + data)
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield
    server.shutdown(socket.SHUT_RDWR)
    server.close()


@pytest.fixture
def front(pki, spu_stand_in, tmp_path):
    assert STUNNEL, 'stunnel is not installed on this machine (apt-get install stunnel4); scripts/test.sh installs it'
    spec = {'stunnel': STUNNEL, 'ready': job_config.STUNNEL_BOUND, 'cert': pki['alice']['cert'],
            'key': pki['alice']['key'], 'ca_cert': pki['alice']['peers_ca'],
            'services': [{'name': 'spu', 'accept': '127.0.0.1:%d' % FRONT_PORT, 'connect': '127.0.0.1:%d' % SPU_PORT}]}
    proc = job_runner.start_tls_front(spec, str(tmp_path))
    yield spec, proc, tmp_path
    job_runner.stop_tls_front(proc)


def _tls_exchange(cert, key, cafile):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(cafile)
    ctx.load_cert_chain(cert, key)
    try:
        with ctx.wrap_socket(socket.create_connection(('127.0.0.1', FRONT_PORT), timeout=10)) as s:
            s.sendall(b'hello')
            return s.recv(64)
    except (ssl.SSLError, ConnectionError):
        return b''


def test_a_peer_certificate_gets_through_to_spu(pki, front):
    assert _tls_exchange(pki['bob']['cert'], pki['bob']['key'], pki['bob']['peers_ca']) == b'spu:hello'


def test_a_stranger_certificate_and_a_cleartext_client_do_not(pki, front):
    assert _tls_exchange(pki['stranger']['cert'], pki['stranger']['key'], pki['bob']['peers_ca']) == b''
    with socket.create_connection(('127.0.0.1', FRONT_PORT), timeout=10) as s:
        s.sendall(b'hello')
        try:
            answer = s.recv(64)
        except ConnectionResetError:
            answer = b''
    assert not answer.startswith(b'spu:'), answer
    log = (front[2] / 'spu-tls-front.log').read_text()
    assert 'Rejected by CERT' in log and 'wrong version number' in log, log


def test_a_busy_port_is_a_clear_error_and_stopping_closes_the_port(pki, front, tmp_path_factory):
    spec, proc, _unused = front
    with pytest.raises(RuntimeError, match=r'SPU TLS front \(stunnel on 127.0.0.1:%d\) did not start: .*in use' % FRONT_PORT):
        job_runner.start_tls_front(spec, str(tmp_path_factory.mktemp('second')))
    job_runner.stop_tls_front(proc)
    assert proc.poll() is not None
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(('127.0.0.1', FRONT_PORT), timeout=5).close()
