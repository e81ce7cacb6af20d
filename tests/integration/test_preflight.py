"""Bad inventories are refused before any host is touched: the error names the host (or
party) and the field, and the run changes nothing. Hosts are this machine (connection local),
with every path pointed into a temporary directory that must stay empty."""
import os
import re
import subprocess
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CASES = {
    'colliding explicit ports on one address': ("""
        alice: {hosts: {a1: {federation_ports: {spu: 21009}}}}
        bob: {hosts: {b1: {}}}""", 'port collision on loopback: a1 (party alice) spu 21009 and b1 (party bob) spu 21009'),
    'two heads in one party': ("""
        alice: {hosts: {a1: {federation_head: true}, a2: {federation_head: true}}}
        bob: {hosts: {b1: {}}}""", 'party alice: federation_head is true on 2 hosts (a1, a2)'),
    'a port out of range': ("""
        alice: {hosts: {a1: {federation_ports: {rayfed: 70000}}}}""",
        'a1 (party alice): federation_rayfed_port must be between 1 and 65535, got 70000'),
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
}


@pytest.mark.parametrize('case', sorted(CASES))
def test_bad_inventory_is_refused_and_changes_nothing(case, tmp_path):
    groups, expected = CASES[case]
    state = tmp_path / 'state'
    state.mkdir()
    # An interpreter that answers an older version, for the version check.
    stub = tmp_path / 'python-3.10.1'
    stub.write_text('#!/bin/sh\necho 3.10.1\n')
    stub.chmod(0o755)
    groups = groups.replace('STATE/', str(tmp_path) + '/')
    inventory = tmp_path / 'hosts.yml'
    inventory.write_text(textwrap.dedent('''
        secretflow:
          vars:
            ansible_connection: local
            ansible_python_interpreter: "{{{{ ansible_playbook_python }}}}"
            federation_address: 127.0.0.1
            python_env_dir: {state}/{{{{ inventory_hostname }}}}/venv
            ray_node_dir: {state}/{{{{ inventory_hostname }}}}/ray
            ray_manager: process
          children:
    ''').format(state=state) + textwrap.indent(textwrap.dedent(groups).strip('\n'), '    ') + '\n')
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), ANSIBLE_NOCOLOR='1')
    proc = subprocess.run(['ansible-playbook', '-i', str(inventory), os.path.join(ROOT, 'playbooks', 'simulate.yml')],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert expected in re.sub(r'\s+', ' ', out), out[-3000:]
    if case == 'python versions that differ':
        assert re.search(r'b1\s+3\.10\.1', out) and re.search(r'a1\s+3\.\d+\.\d+', out), out[-3000:]
    assert all(int(n) == 0 for n in re.findall(r'changed=(\d+)', out)), out[-2000:]
    assert os.listdir(state) == []
