"""Day 2 on the production test bed, in order: status, check mode (deployed and fresh hosts), a
party nobody reaches before the job starts, one party torn down on the machine it shares,
an upgrade one party at a time (which also brings the torn-down party back), and last an upgrade
that fails on bob (which leaves the parties on different versions). Runs after
test_1_production.py."""
import json
import os
import re
import subprocess
import sys

import yaml

sys.path.insert(0, os.path.join(os.environ.get('MOLECULE_PROJECT_DIRECTORY', os.getcwd()), 'molecule', 'resources'))
from production_bed import HEADS, NODES, PSI_INPUT, TLS, env, port, ray_targets  # noqa: E402
from testbed import (ROOT, a_second_run_changes_nothing, changed_counts, host, knock, listening, playbook,  # noqa: E402
                     playbooks_together, status, task_blocks, task_output)


def rows(out):
    """status.yml's table: host -> its row's words."""
    return {line.split()[1]: line.split() for line in out.splitlines()
            if line.split()[:1] and line.split()[0] in HEADS and len(line.split()) > 7}


def test_status_shows_each_party_its_cluster_its_firewall_and_its_peers():
    proc = status('-e', 'status_fail_unhealthy=true')
    assert proc.returncode == 0, proc.stdout[-4000:]
    table = rows(proc.stdout)
    assert table['prod-alice-1'][2:7] == ['head', 'active', '4/4', '1/1', 'ok'], table
    assert table['prod-carol'][2:7] == ['head', 'active', '4/4', '2/2', 'ok'], table
    assert table['prod-carol-2'][2:7] == ['worker', 'active', '2/2', '-', 'ok'], table
    for party, name in HEADS.items():
        assert 300 < int(table[name][7]) <= 365, table[name]  # days until the certificate expires
        # bob's and carol's heads also hold the port of their SPU device psi (molecule.yml).
        assert table[name][8] == 'idle/idle' + (',psi=idle' if party in PSI_INPUT else ''), table[name]
        peers = ' '.join(table[name][9:])
        assert peers == ' '.join('%s ok' % p for p in sorted(HEADS) if p != party), table[name]
        assert '%s: healthy' % party in proc.stdout


def test_status_names_an_old_configuration_and_a_certificate_due_for_renewal():
    """A node running another launcher than the one written shows "(old)", a certificate inside
    the renewal window is flagged; both make their party unhealthy and the run exit non-zero.
    (The next test's status run shows the bed healthy again.)"""
    launcher = '/var/lib/sfdeploy/ray/prod-carol-2/ray-node.sh'
    worker = host('prod-carol-2')
    worker.check_output("sudo sh -c 'echo \\# edited by hand >> %s'" % launcher)
    try:
        proc = status('-e', 'status_fail_unhealthy=true', '-e', 'tls_renew_before_days=400')
    finally:
        worker.check_output("sudo sed -i '$d' %s" % launcher)
    out = ' '.join(proc.stdout.split())
    assert proc.returncode != 0, out[-3000:]
    table = rows(proc.stdout)
    assert table['prod-carol-2'][3:5] == ['active', '(old)'], table['prod-carol-2']
    assert ('prod-carol-2: runs another configuration than the last deployment wrote (re-run the deploy playbook)'
            in out), out[-3000:]
    for party, name in HEADS.items():
        assert '%s: UNHEALTHY' % party in out, out[-3000:]
        assert re.search(r'%s: its TLS certificate expires in \d+ days \(the deploy playbook renews it\)' % name, out), out[-3000:]


def node_state(name):
    """What a check-mode run must leave as it was on a node: its Ray unit and launcher, the
    running Ray process, its firewall table, and on a head its TLS files."""
    party, address, head, base = NODES[name]
    h = host(name)
    state = {
        'unit': h.check_output('sha256sum /etc/systemd/system/sfdeploy-ray-%s.service' % party),
        'launcher': h.check_output('sudo sha256sum /var/lib/sfdeploy/ray/%s/ray-node.sh' % name),
        'pid': h.check_output('systemctl show -p MainPID --value sfdeploy-ray-%s' % party).strip(),
        'rules': h.check_output('sudo nft -s list table inet sfdeploy_%s' % name.replace('-', '_')),  # -s: no counters
        # The environment and the machine's wheelhouse copy (teardown --check is asked to remove both).
        'env': h.check_output('ls -d %s/bin/python /var/cache/sfdeploy/wheelhouse 2>/dev/null; true' % env(party)),
    }
    if head:
        state['tls'] = h.check_output('sudo sh -c "sha256sum %s/*"' % (TLS % party))
    return state


def recap(output):
    """The play recap: host -> changed count."""
    return {m.group(1): int(m.group(2)) for m in re.finditer(r'^(\S+)\s+: ok=\d+\s+changed=(\d+)', output, re.M)}


def _six(name, version=None):
    """The six installed in the environment of NODES[name]'s party (installed first when version is given)."""
    python = '%s/bin/python' % env(NODES[name][0])
    if version:
        install = ('sudo SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt UV_CACHE_DIR=/var/cache/sfdeploy/uv '
                   '%s/bin/uv pip install -q --python %s six==%s' % (env(NODES[name][0]), python, version))
        host(name).run_expect([0], install)
    return host(name).check_output("%s -c 'import importlib.metadata as m; print(m.version(\"six\"))'" % python)


def test_check_mode_reports_what_is_due_and_changes_nothing():
    before = {name: node_state(name) for name in NODES}
    assert all(s['pid'] not in ('', '0') for s in before.values()), before  # every node runs
    # Due: every Ray node to one CPU (production), everything removed (teardown, the environments
    # and wheelhouse copies too), and bob's environment back to the lock (one of its packages was
    # changed by hand).
    with open(os.path.join(ROOT, 'roles', 'secretflow', 'files', 'default.lock')) as f:
        locked = re.search(r'^six==(\S+)', f.read(), re.M).group(1)
    assert _six('prod-bob', '1.16.0') == '1.16.0' != locked
    try:
        # Check mode changes nothing, so the two runs do not disturb each other: they run at once.
        runs = playbooks_together({
            'production': ('playbooks/production.yml', '--check', '--diff', '-e', 'ray_num_cpus=1'),
            'teardown': ('playbooks/teardown.yml', '--check', '--diff', '-e', 'python_teardown_remove_env=true')})
        assert _six('prod-bob') == '1.16.0'
    finally:
        _six('prod-bob', locked)
    for name, proc in runs.items():
        assert proc.returncode == 0, '%s:\n%s' % (name, proc.stdout[-4000:])
        changed = recap(proc.stdout)
        assert all(changed.get(n, 0) > 0 for n in NODES), (name, changed)
    assert '--num-cpus=1' in runs['production'].stdout, runs['production'].stdout[-4000:]
    # The drift is named on bob's host, and only there.
    install = task_output(runs['production'].stdout, 'Install the pinned packages with uv')
    drifted = set(re.findall(r'^changed: \[([^\]]+)\]', install, re.M))
    assert 'six: want %s, have 1.16.0' % locked in install and drifted == {'prod-bob'}, install[-3000:]
    # The wheelhouse copy would go, on the machine that has one: the offline worker.
    removal = task_output(runs['teardown'].stdout, "Remove this machine's wheelhouse copy")
    assert set(re.findall(r'^changed: \[([^\]]+)\]', removal, re.M)) == {'prod-carol-2'}, removal
    assert {name: node_state(name) for name in NODES} == before
    assert status('-e', 'status_fail_unhealthy=true').returncode == 0


# prod-mallory has never been deployed: as two parties of one machine it stands for fresh hosts.
FRESH = {'secretflow': {
    'vars': {'ansible_connection': 'ssh', 'ansible_user': 'deploy', 'ansible_become': True,
             'ansible_ssh_private_key_file': '/var/tmp/sfdeploy-testbed/id_ed25519',
             'ansible_ssh_common_args': '-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null',
             'ansible_host': '10.211.2.66', 'federation_address': '10.211.2.66'},
    'children': {'dan': {'hosts': {'fresh-dan': {}}},
                 'erin': {'hosts': {'fresh-erin': {'federation_port_base': 21000}}}}}}
# Anything of the collection on a host (empty on a fresh one).
TRACES = ('ls -d /opt/sfdeploy /etc/sfdeploy /var/lib/sfdeploy /etc/systemd/system/sfdeploy-* 2>/dev/null; '
          'dpkg -s stunnel4 python3-cryptography 2>/dev/null | grep ^Package; '
          'sudo nft list tables | grep sfdeploy; true')


def test_check_mode_on_fresh_hosts_reports_the_deployment_and_changes_nothing(tmp_path):
    mallory = host('prod-mallory')
    assert mallory.check_output(TRACES) == ''
    inventory = tmp_path / 'fresh.yml'
    inventory.write_text(yaml.safe_dump(FRESH))
    # Each CA mode: its own certificate task reports what it would do. The user's files (user
    # mode) are made here, on the controller, as a user brings them.
    user = _user_tls_files(tmp_path)
    certificates = {'party': "Issue this head's key and certificate with its party's own CA",
                    'shared': 'Report the keys and certificate a run would make (check mode, library not installed yet)',
                    'user': "Install the user's private key"}
    # The three runs change nothing (check mode): they run at once. The whole deployment in the
    # default mode (party); in the other two, what differs: the tls role (--tags tls).
    runs = playbooks_together(
        dict((mode, ('playbooks/production.yml', '--check', '--diff', '-e', 'tls_ca_mode=%s' % mode)
              + (('--tags', 'tls') if mode != 'party' else ())
              + (('-e', json.dumps(user)) if mode == 'user' else ())) for mode in certificates),
        inventory=str(inventory))
    for mode, certificate_task in certificates.items():
        proc = runs[mode]
        assert proc.returncode == 0, (mode, proc.stdout[-4000:])
        changed = recap(proc.stdout)
        assert changed.get('fresh-dan', 0) > 0 and changed.get('fresh-erin', 0) > 0, (mode, changed)
        # What it reports is the deployment: packages, certificates, rules, Ray nodes, for both parties.
        tasks = ["Install the Python library the certificate modules need, and stunnel", certificate_task]
        if mode == 'party':
            tasks += ["Load this node's rules", "Write the Ray node's files"]
        for task in tasks:
            reported = task_output(proc.stdout, task)
            assert 'changed: [fresh-dan]' in reported and 'changed: [fresh-erin]' in reported, (mode, task, reported)
        assert mallory.check_output(TRACES) == '', mode
        if mode == 'user':
            key_line = open(user['tls_user_key_src']).read().splitlines()[1]
            assert key_line not in proc.stdout


def _user_tls_files(directory):
    """A CA and a certificate it signed, with its key, as files on the controller (tls_ca_mode user)."""
    def openssl(*args):
        subprocess.run(['openssl'] + list(args), cwd=str(directory), check=True, capture_output=True)
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '30',
            '-subj', '/CN=user test CA')
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'node.key', '-out', 'node.csr', '-subj', '/CN=fresh')
    openssl('x509', '-req', '-in', 'node.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
            '-out', 'node.pem', '-days', '30')
    return {'tls_user_cert_src': str(directory / 'node.pem'), 'tls_user_key_src': str(directory / 'node.key'),
            'tls_user_ca_src': str(directory / 'ca.pem')}


# On alice's head: drop (not reject) what reaches its cross-silo ports, as a firewall in the
# way or a host that is gone would.
DROP = ('sudo nft add table inet sfdeploy_test_drop && sudo nft add chain inet sfdeploy_test_drop input '
        '"{ type filter hook input priority -10; }" && sudo nft add rule inet sfdeploy_test_drop input '
        'tcp dport "{ 20008, 20009 }" drop')


def test_a_party_nobody_reaches_stops_the_run_before_any_job_starts_naming_why(tmp_path):
    # bob and carol run with alice's public endpoint from a federation file, as institutions do.
    federation = tmp_path / 'federation.yml'
    export = playbook('molecule/resources/production-job.yml', '--tags', 'always',
                      '-e', 'federation_export_file=%s' % federation)
    assert export.returncode == 0, export.stdout[-3000:]
    runs = {}
    # Nothing listens on alice's ports (alice is not in the run): refused. Then the same with
    # alice's head dropping the traffic: timed out, the README's example.
    for case in ('refused', 'dropped'):
        if case == 'dropped':
            host(HEADS['alice']).check_output(DROP)
        try:
            runs[case] = playbook('molecule/resources/production-job.yml', '--limit', 'bob,carol',
                                  '-e', 'federation_file=%s' % federation, '-e', 'job_reach_timeout=10')
        finally:
            if case == 'dropped':
                host(HEADS['alice']).run('sudo nft delete table inet sfdeploy_test_drop')
    why = {'refused': 'connection refused', 'dropped': 'timed out'}
    for case, proc in runs.items():
        out = ' '.join(proc.stdout.split())
        assert proc.returncode != 0, out[-3000:]
        for party in ('bob', 'carol'):
            for service, p in (('rayfed', 20008), ('spu', 20009)):
                line = '%s cannot reach alice at 10.211.2.11:%d (%s port): %s' % (party, p, service, why[case])
                assert line in out, (case, out[-4000:])
        # bob and carol reach each other: only alice is named.
        assert 'cannot reach bob' not in out and 'cannot reach carol' not in out, (case, out[-4000:])
        assert 'Start the job on every party' not in proc.stdout
    assert host('prod-bob').run("pgrep -af '[j]ob_runner[.]py'").rc == 1


def test_tearing_down_one_party_on_a_shared_machine_leaves_the_other_in_place():
    """bob is torn down alone; carol, on the same machine, keeps its Ray, its rules and its
    environment. The upgrade test below deploys bob again."""
    proc = playbook('playbooks/teardown.yml', '--limit', 'bob')
    assert proc.returncode == 0, proc.stdout[-4000:]
    shared = host('prod-carol')
    assert not shared.file('/etc/systemd/system/sfdeploy-ray-bob.service').exists
    assert port('prod-bob', 0) not in listening(shared)
    assert shared.run('sudo nft list table inet sfdeploy_prod_bob').rc != 0
    # carol: still running, still filtered, still healthy.
    assert shared.service('sfdeploy-ray-carol').is_running
    assert port('prod-carol', 0) in listening(shared)
    assert shared.run('sudo nft list table inet sfdeploy_prod_carol').rc == 0
    assert shared.file('%s/bin/python' % env('carol')).exists and shared.file('%s/bin/python' % env('bob')).exists
    assert set(knock('prod-mallory', ray_targets(['prod-carol'])).values()) == {'dropped'}
    report = status()
    assert 'carol: healthy' in report.stdout and 'bob: UNHEALTHY' in report.stdout, report.stdout[-3000:]


def _restarted_at(name):
    return int(host(name).check_output('systemctl show -p ActiveEnterTimestampMonotonic --value sfdeploy-ray-%s'
                                       % NODES[name][0]))


def _version(name):
    return host(name).check_output("%s/bin/python -c 'import importlib.metadata as m; print(m.version(\"secretflow\"))'"
                                   % env(NODES[name][0]))


def _lock(tmp_path, packages):
    """The lock of another package set, compiled as the README says (scripts/lock.py)."""
    settings, out = tmp_path / 'set.yml', tmp_path / 'set.lock'
    settings.write_text(yaml.safe_dump({'secretflow_packages': packages}))
    subprocess.run([sys.executable, os.path.join(ROOT, 'scripts', 'lock.py'), '--vars', str(settings), '-o', str(out)],
                   check=True, timeout=600)
    return str(out)


def test_an_upgrade_goes_one_party_at_a_time_and_the_job_runs_after(tmp_path):
    before = {name: _restarted_at(name) for name in NODES}
    wanted = ['secretflow==1.11.0b0', 'ray==2.9.3', 'secretflow-rayfed==0.2.1a2', 'spu==0.9.3b0']
    extra = json.dumps({'secretflow_packages': wanted, 'secretflow_lock_file': _lock(tmp_path, wanted)})
    # Without the new set's lock, the default one is refused before any host changes.
    refused = playbook('playbooks/upgrade.yml', '--skip-tags', 'job', '-e', json.dumps({'secretflow_packages': wanted}))
    assert refused.returncode != 0 and 'does not fit the package set' in refused.stdout, refused.stdout[-3000:]
    assert set(changed_counts(refused.stdout)) <= {0}, refused.stdout[-3000:]
    proc = playbook('playbooks/upgrade.yml', '-e', extra)
    assert proc.returncode == 0, proc.stdout[-4000:]
    for party in HEADS:
        assert "%s: the job's result is the expected one" % party in proc.stdout.replace("''", "'")
    after = {name: _restarted_at(name) for name in NODES}
    for name in NODES:
        assert _version(name) == '1.11.0b0', name
        assert after[name] > before[name], '%s was not restarted' % name
        # The launcher records the new set, as production.yml's would: the next deploy run restarts nothing.
        launcher = host(name).check_output('sudo cat /var/lib/sfdeploy/ray/%s/ray-node.sh' % name)
        assert '# Environment stamp: %s\n' % ' '.join(wanted) in launcher + '\n', (name, launcher[:400])
    # Each party's packages are installed in a round of their own (in the inventory's party order):
    # while bob's environment is upgraded, carol's (on the same machine) is not touched, and the
    # reverse.
    rounds = task_blocks(proc.stdout, 'Wait for the pinned packages to be installed')
    changed = [sorted(re.findall(r'^changed: \[([^\]]+)\]', b, re.M)) for _title, b in rounds]
    order = [NODES[hosts[0]][0] for hosts in changed if hosts]
    assert sorted(order) == sorted(HEADS), changed
    for party, hosts in zip(order, [h for h in changed if h]):
        assert hosts == sorted(n for n in NODES if NODES[n][0] == party), changed
    # Each party restarts after the previous one is done.
    for earlier, later in zip(order, order[1:]):
        assert (max(after[n] for n in NODES if NODES[n][0] == earlier)
                < min(after[n] for n in NODES if NODES[n][0] == later)), (order, after)
    a_second_run_changes_nothing('playbooks/upgrade.yml', '-e', extra)
    assert {name: _restarted_at(name) for name in NODES} == after, 'an unchanged upgrade restarted Ray'
    # Deployed again by the upgrade, bob's rules are back: nobody outside reaches its Ray.
    assert set(knock('prod-mallory', ray_targets(['prod-bob'])).values()) == {'dropped'}


def test_an_upgrade_that_fails_on_a_party_stops_there_and_leaves_the_parties_after_it_alone(tmp_path):
    """The scenario's last test (it leaves the parties on different versions). Back to 1.11.0b1,
    but bob's package index answers without any of the packages (one bob reaches, so the
    preflight's reachability check lets it pass): the parties before bob are upgraded, bob's
    upgrade fails naming it, and the parties after bob keep their version and their running Ray."""
    before = {name: (_version(name), _restarted_at(name)) for name in NODES}
    assert {v for v, _unused in before.values()} == {'1.11.0b0'}, before
    offline = tmp_path / 'bob-offline.yml'
    offline.write_text(yaml.safe_dump({'all': {'hosts': {'prod-bob': {
        'secretflow_index_url': 'https://pypi.org/simple/sfdeploy-no-such-index/'}}}}))
    packages = '["secretflow==1.11.0b1", "ray==2.9.3", "secretflow-rayfed==0.2.1a2", "spu==0.9.3b0"]'
    proc = playbook('playbooks/upgrade.yml', '-i', str(offline), '-e', '{"secretflow_packages": %s}' % packages)
    out = proc.stdout
    assert proc.returncode != 0, out[-4000:]
    assert 'uv could not install the package set into %s' % env('bob') in ' '.join(out.split()), out[-4000:]
    # The parties whose install round ran, in order: bob's, which failed, is the last.
    rounds = []
    for _title, block in task_blocks(out, 'Wait for the pinned packages to be installed'):
        hosts = re.findall(r'^(?:changed|ok|fatal): \[([^\]]+)\]', block, re.M)
        if hosts:
            rounds.append({NODES[h][0] for h in hosts})
    assert all(len(r) == 1 for r in rounds) and rounds and rounds[-1] == {'bob'}, rounds
    upgraded = {p for r in rounds[:-1] for p in r}
    after = {name: (_version(name), _restarted_at(name)) for name in NODES}
    for name, (party, address, head, base) in NODES.items():
        if party in upgraded:
            assert after[name][0] == '1.11.0b1' and after[name][1] > before[name][1], (name, after[name])
        else:  # bob itself and every party after it
            assert after[name] == before[name], (name, before[name], after[name])
    assert 'Start the job on every party' not in out
