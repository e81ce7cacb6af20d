"""Bad inventories are refused before any host is touched: the error names the host (or
party) and the field, and the run changes nothing. Hosts are this machine (connection local),
with every path pointed into a temporary directory that must stay empty, and ports from 30000
up (clear of a local deployment made by the README's first command)."""
import glob
import os
import re
import socket
import subprocess
import textwrap

import pytest
import yaml

from runner import ROOT, ansible_playbook, changed_counts

CASES = {
    'colliding explicit ports on one address': ("""
        alice: {hosts: {a1: {federation_ports: {spu: 31009}}}}
        bob: {hosts: {b1: {}}}""", 'port collision on loopback: a1 (party alice) spu 31009 and b1 (party bob) spu 31009'),
    'two heads in one party': ("""
        alice: {hosts: {a1: {federation_head: true}, a2: {federation_head: true}}}
        bob: {hosts: {b1: {}}}""", 'party alice: federation_head is true on 2 hosts (a1, a2)'),
    'a port out of range': ("""
        alice: {hosts: {a1: {federation_ports: {rayfed: 70000}}}}""",
        'a1 (party alice): federation_ports.rayfed must be between 1 and 65535, got 70000'),
    'a host in two party groups': ("""
        alice: {hosts: {a1: {}}}
        bob: {hosts: {a1: {}}}""", 'a1: federation_party is ambiguous, the host is in the groups alice, bob'),
    'an invalid party name': ("""
        alice-team: {hosts: {a1: {}}}""", "a1: federation_party 'alice-team' is not a valid party name"),
    'python versions that differ': ('''
        alice: {hosts: {a1: {}}}
        bob: {hosts: {b1: {python_system_interpreter: STATE/python-3.10.1}}}''',
        'Python versions differ between hosts'),
    'an unpinned package': ("""
        alice: {hosts: {a1: {secretflow_packages: [secretflow]}}}""",
        'a1: secretflow_packages entries must be pinned with == : secretflow'),
    'a port that is not a number': ("""
        alice: {hosts: {a1: {federation_ports: {rayfed: twenty}}}}""",
        "a1 (party alice): federation_ports.rayfed must be an integer port, got 'twenty'"),
    # The shipped lock is that of the default set: another set needs its own (scripts/lock.py).
    'a lock compiled for another package set': ('''
        alice: {hosts: {a1: {secretflow_packages: [secretflow==1.11.0b0, ray==2.9.3, secretflow-rayfed==0.2.1a2,
                                                   spu==0.9.3b0]}}}''',
        'roles/secretflow/files/default.lock does not fit the package set: it was compiled for another package set'),
    # A wheelhouse holds a lock's files: without a lock there is nothing to download.
    'a wheelhouse install without a lock': ('''
        alice: {hosts: {a1: {secretflow_install_source: wheelhouse, secretflow_lock_file: ''}}}''',
        'a1: secretflow_install_source is wheelhouse, but secretflow_lock_file is empty'),
    # This machine runs no ufw (the suite's machine has none installed).
    'a firewall backend that does not run': ("""
        alice: {hosts: {a1: {firewall_backend: ufw}}}""", 'a1: firewall_backend is ufw, but ufw does not run here'),
    'an unknown port name': ("""
        alice: {hosts: {a1: {federation_ports: {rayfeed: 30500}}}}""",
        "a1 (party alice): federation_ports: unknown port name 'rayfeed'"),
    'an SPU device naming an unknown party': ('''
        alice: {hosts: {a1: {federation_spu_devices: &devices {psi: {parties: [alice, dave]}}}}}
        bob: {hosts: {b1: {federation_spu_devices: *devices}}}''',
        'federation_spu_devices.psi: dave is not a party of this federation (parties: alice, bob)'),
    'two SPU devices on one port': ('''
        alice: {hosts: {a1: {federation_spu_devices: &devices {one: {parties: [alice, bob]}, two: {parties: [alice, bob]}},
                             federation_ports: {spu.two: 30020}}}}
        bob: {hosts: {b1: {federation_spu_devices: *devices}}}''',
        'a1 (party alice) spu.one 30020 and a1 (party alice) spu.two 30020 overlap'),
    'an SPU protocol that does not fit the device': ('''
        alice: {hosts: {a1: {federation_spu_devices: &devices {tri: {parties: [alice, bob], protocol: ABY3}}}}}
        bob: {hosts: {b1: {federation_spu_devices: *devices}}}''',
        'federation_spu_devices.tri: protocol ABY3 runs between 3 parties, but the device has 2 (alice, bob)'),
    'hosts that disagree on the SPU devices': ('''
        alice: {hosts: {a1: {federation_spu_devices: {psi: {parties: [alice, bob]}}}}}
        bob: {hosts: {b1: {}}}''', 'federation_spu_devices differs between a1 and b1'),
    'RayFed and SPU on one port': ("""
        alice: {hosts: {a1: {federation_ports: {spu: 30008}}}}""",
        'port collision on loopback: a1 (party alice) rayfed 30008 and a1 (party alice) spu 30008 overlap'),
    'overlapping Ray worker port ranges': ("""
        alice: {hosts: {a1: {}}}
        bob: {hosts: {b1: {federation_port_base: 30500}}}""",
        'a1 (party alice) ray_worker_ports 30100-30999 and b1 (party bob)'),
    'a block too small for the worker range': ("""
        alice: {hosts: {a1: {federation_port_block_size: 110}}}""",
        'a1 (party alice): federation_port_block_size must be at least'),
    'a loopback address mixed with remote hosts': ("""
        alice: {hosts: {a1: {}}}
        bob: {hosts: {b1: {federation_address: 192.0.2.10}}}""",
        'a1: federation_address is a loopback address, which other hosts cannot dial'),
    'a role variable of the wrong type': ("""
        alice: {hosts: {a1: {ray_num_cpus: many}}}""",
        "argument 'ray_num_cpus' is of type"),
    'an unknown Python provider': ("""
        alice: {hosts: {a1: {python_provider: pip}}}""",
        'value of python_provider must be one of: system, conda, got: pip'),
    'a peer head nobody can reach': ("""
        alice: {hosts: {a1: {}}}
        bob: {hosts: {b1: {federation_address: 127.0.0.2, federation_listen_host: 127.0.0.3, federation_port_base: 31000}}}""",
        'alice cannot reach bob at 127.0.0.2:31008 (rayfed port): connection refused', 'production'),
    'a user-supplied TLS key that does not match its certificate': ("""
        alice: {hosts: {a1: {tls_ca_mode: user, tls_user_cert_src: STATE/a.crt, tls_user_key_src: STATE/b.key,
                             tls_user_ca_src: STATE/a.crt}}}
        bob: {hosts: {b1: {}}}""",
        'a1 (party alice): tls_user_key_src ', 'production'),
    'a user-supplied TLS file that does not exist': ("""
        alice: {hosts: {a1: {tls_ca_mode: user, tls_user_cert_src: STATE/missing.crt, tls_user_key_src: STATE/a.key,
                             tls_user_ca_src: STATE/a.crt}}}
        bob: {hosts: {b1: {}}}""",
        'a1 (party alice): tls_user_cert_src ', 'production'),
    'a cross-silo port held by another process': ("""
        alice: {hosts: {a1: {}}}
        bob: {hosts: {b1: {}}}""",
        'bob: its rayfed port 31008 on 0.0.0.0 is in use by another process', 'production'),
    'an empty party group': ("""
        alice: {hosts: {a1: {}}}
        dan: {}""", 'the party groups dan (children of secretflow) have no hosts'),
    'the management port among the SecretFlow ports': ("""
        alice: {hosts: {a1: {firewall_management_ports: [22, 30008]}}}
        bob: {hosts: {b1: {federation_port_base: 31000}}}""",
        'a1: firewall_management_ports 30008 fall among this node', 'production'),
    'a federation group the plays do not target': ("""
        alice: {hosts: {a1: {federation_group: bank}}}""",
        'a1: federation_group is set in the inventory to bank, but the plays target secretflow'),
    'an empty federation group': ('', 'the inventory has no hosts in the group secretflow'),
    # Two institutions on one machine, each from its own inventory: both took the first block.
    'a federation file whose peer shares an address and port with this run': ("""
        carol: {hosts: {c1: {}}}""",
        'federation_file: party bob: rayfed_port 127.0.0.1:30008 is also c1 (party carol) rayfed', 'production',
        {'parties': {'bob': {'address': '127.0.0.1', 'rayfed_port': 30008, 'spu_port': 30009}}}),
    'a federation file that disagrees with the inventory': ("""
        carol: {hosts: {c1: {}}}""",
        'federation_file: party carol: spu_port is 31009 in the file, but this run deploys carol (head c1) with '
        'spu_port 30009', 'production',
        {'parties': {'carol': {'address': '127.0.0.1', 'rayfed_port': 30008, 'spu_port': 31009},
                     'bob': {'address': '10.9.9.9', 'rayfed_port': 30008, 'spu_port': 30009}}}),
}


def _write_tls_files(directory):
    """a.crt with its key a.key, and an unrelated key b.key (a user's TLS files, one mixed up)."""
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def pem_key(key):
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
    a, b = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'alice')])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(a.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(a, hashes.SHA256()))
    (directory / 'a.crt').write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / 'a.key').write_bytes(pem_key(a))
    (directory / 'b.key').write_bytes(pem_key(b))


@pytest.mark.parametrize('case', sorted(CASES))
def test_bad_inventory_is_refused_and_changes_nothing(case, tmp_path):
    groups, expected, mode, federation = CASES[case] + (None,) * (4 - len(CASES[case]))
    mode = mode or 'simulation'
    state = tmp_path / 'state'
    state.mkdir()
    # An interpreter that answers an older version, for the version check.
    stub = tmp_path / 'python-3.10.1'
    stub.write_text('#!/bin/sh\necho 3.10.1\n')
    stub.chmod(0o755)
    _write_tls_files(tmp_path)
    groups = groups.replace('STATE/', str(tmp_path) + '/')
    extra = ['-e', 'job_reach_timeout=3']
    if federation:
        (tmp_path / 'federation.yml').write_text(yaml.safe_dump(federation))
        extra += ['-e', 'federation_file=%s' % (tmp_path / 'federation.yml')]
    inventory = tmp_path / 'hosts.yml'
    inventory.write_text(textwrap.dedent('''
        secretflow:
          vars:
            ansible_connection: local
            ansible_python_interpreter: "{{{{ ansible_playbook_python }}}}"
            federation_address: 127.0.0.1
            federation_port_base: 30000
            python_env_dir: {state}/{{{{ inventory_hostname }}}}/venv
            ray_node_dir: {state}/{{{{ inventory_hostname }}}}/ray
            ray_manager: process
          children:{empty}
    ''').format(state=state, empty='' if groups else ' {}') + textwrap.indent(textwrap.dedent(groups).strip('\n'), '    ')
        + '\n')
    playbook = os.path.join(ROOT, 'playbooks', 'simulate.yml' if mode == 'simulation' else 'production.yml')
    holder = None
    if case == 'a cross-silo port held by another process':
        holder = socket.socket()
        holder.bind(('0.0.0.0', 31008))
        holder.listen(1)
    try:
        proc = ansible_playbook('-i', inventory, playbook, *extra)
    finally:
        if holder:
            holder.close()
        # A case that slipped through would have started Ray nodes here: end them.
        for nodectl in glob.glob(str(state / '*' / 'ray' / 'ray-nodectl')):
            subprocess.run([nodectl, 'stop', os.path.dirname(nodectl)], capture_output=True, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert expected in re.sub(r'\s+', ' ', out), out[-3000:]
    if case == 'a lock compiled for another package set':
        assert 'a1: secretflow_lock_file ' in re.sub(r'\s+', ' ', out), out[-3000:]
    if case == 'python versions that differ':
        assert re.search(r'b1\s+3\.10\.1', out) and re.search(r'a1\s+3\.\d+\.\d+', out), out[-3000:]
    assert all(n == 0 for n in changed_counts(out)), out[-2000:]
    assert os.listdir(state) == []
    # The run stops at the first problem: one failing task (on one host or several), no follow-up errors.
    origins = set(re.findall(r'^Origin: (\S+)', out, re.M))
    assert len(origins) <= 1, origins
