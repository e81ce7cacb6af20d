"""Verify the production test bed: a Ray cluster per party (bob and carol on one machine), the
job on every party, a dead peer stopping everyone, institutions that run their own party only
(two of them on one machine), and a peer that never starts its job."""
import json
import os
import re
import shlex
import sys

import pytest
import yaml

sys.path.insert(0, os.path.join(os.environ.get('MOLECULE_PROJECT_DIRECTORY', os.getcwd()), 'molecule', 'resources'))
from production_bed import (HEADS, NODES, PRIVATE, PSI_INPUT, PSI_OFFSET, TLS, env, party_args,  # noqa: E402
                            plaintext_answer, port)
from testbed import (ROOT, a_second_run_changes_nothing, changed_counts, host, playbook,  # noqa: E402
                     playbooks_together, run_module, task_output)

JOB_PLAYBOOK = 'molecule/resources/production-job.yml'


def run_job(*extra):
    """Run production.yml's job part (the deployment is converged) against the test bed."""
    return playbook(JOB_PLAYBOOK, *extra)


def test_a_second_run_changes_nothing():
    a_second_run_changes_nothing('playbooks/production.yml')


@pytest.mark.parametrize('party', sorted(HEADS))
def test_each_party_cluster_holds_exactly_its_own_nodes(party):
    name = HEADS[party]
    nodes = sum(1 for n in NODES.values() if n[0] == party)
    status = host(name).check_output('%s/bin/ray status --address %s:%d' % (env(party), NODES[name][1], port(name, 0)))
    assert status.count(' node_') == nodes, status
    assert '/%.1f %s' % (16.0 * nodes, party) in status, status
    for other in set(HEADS) - {party}:
        assert ' %s\n' % other not in status + '\n', status


def test_parties_on_one_machine_have_their_own_environment_service_and_port_block():
    shared = host('prod-bob')
    for party in ('bob', 'carol'):
        assert shared.file('%s/bin/python' % env(party)).exists, party
        assert shared.service('sfdeploy-ray-%s' % party).is_running, party
        # Each party's Ray runs from its own environment, on its own block.
        gcs = shared.check_output("pgrep -af '[g]cs_server.*--gcs_server_port=%d'" % port(HEADS[party], 0))
        assert gcs.split()[1].startswith('%s/lib/' % env(party)), gcs[:300]
    assert not shared.file('/opt/sfdeploy/venv').exists


@pytest.mark.parametrize('party', sorted(HEADS))
def test_job_result_is_right_on_every_party(party):
    path = '/var/tmp/sfdeploy-jobs/sfjob-%s/result.json' % party
    result = json.loads(host(HEADS[party]).file(path).content_string)
    assert result['ok'], result
    assert result['result'] == plaintext_answer()


def test_private_job_arguments_stay_with_their_party():
    """Each head's job holds its own party's private arguments only, and no job directory holds
    another party's (bob's and carol's are on one machine)."""
    for party, name in HEADS.items():
        h = host(name)
        spec = json.loads(h.check_output('sudo cat /var/tmp/sfdeploy-jobs/sfjob-%s/spec.json' % party))
        assert spec['party_args'] == {party: party_args(party)}, spec['party_args']
        assert 'values' not in spec['args'], spec['args']
        for other in set(HEADS) - {party}:
            found = h.run('sudo grep -rl %s /var/tmp/sfdeploy-jobs/sfjob-%s' % (PRIVATE[other], party))
            assert found.rc == 1, '%s found in %s' % (PRIVATE[other], found.stdout)


# examples/psi.py's inputs: bob's and carol's ids (u07-u11 in both), each written on its own head.
PSI_IDS = {'bob': ['u%02d' % i for i in range(12)], 'carol': ['u%02d' % i for i in range(7, 16)] + ['c01']}
PSI_COMMON = sorted(set(PSI_IDS['bob']) & set(PSI_IDS['carol']))


def test_psi_runs_between_two_of_three_parties_on_files_only_they_hold():
    """The named SPU device psi (bob, carol) runs SecretFlow's PSI; each input path is private to its
    party (job_party_args); alice, outside the device, runs the same job to the same answer."""
    assert len(PSI_COMMON) == 5
    for party, path in PSI_INPUT.items():
        rows = 'id,amount\n' + ''.join('%s,%d\n' % (u, i) for i, u in enumerate(PSI_IDS[party]))
        host(HEADS[party]).check_output('sudo mkdir -p %s && printf %%s %s | sudo tee %s >/dev/null'
                                        % (os.path.dirname(path), shlex.quote(rows), path))
    expected = {'device': 'psi', 'parties': ['bob', 'carol'], 'intersection': len(PSI_COMMON),
                'rows': {'bob': len(PSI_IDS['bob']), 'carol': len(PSI_IDS['carol'])}}
    psi = ('-e', 'job_src=examples/psi.py', '-e', 'job_name=psi', '-e', json.dumps({'job_expected_result': expected}))
    proc = run_job(*psi)
    # On failure, every party's part of the message (the failed task's), not only the last party's.
    assert proc.returncode == 0, task_output(proc.stdout, 'Fail naming the party that failed')[:12000]
    # A job is a run, not a state: on the converged bed it changes nothing (the second run left it out).
    assert set(changed_counts(proc.stdout)) == {0}, proc.stdout[-4000:]
    for party, name in HEADS.items():
        result = json.loads(host(name).file('/var/tmp/sfdeploy-jobs/psi-%s/result.json' % party).content_string)
        assert result['ok'] and result['result'] == expected, (party, result)
    # Each party's intersection is next to its input, on its own head; alice's head has none of it.
    for party, path in PSI_INPUT.items():
        lines = host(HEADS[party]).check_output('sudo cat %s.psi.csv' % path).splitlines()
        assert sorted(line.split(',')[0].strip('"') for line in lines[1:]) == PSI_COMMON, (party, lines)
        assert not host(HEADS['alice']).file(path).exists
    # Only the device's parties ran an SPU runtime for it: alice's front served the default SPU only.
    conf = host(HEADS['alice']).check_output('sudo cat /var/tmp/sfdeploy-jobs/psi-alice/spu-tls-front.conf')
    assert '[spu]' in conf and '[spu.psi]' not in conf, conf
    conf = host(HEADS['bob']).check_output('sudo cat /var/tmp/sfdeploy-jobs/psi-bob/spu-tls-front.conf')
    assert 'accept = 0.0.0.0:%d' % port(HEADS['bob'], PSI_OFFSET) in conf.split('[spu.psi]')[1], conf


def test_a_dead_party_fails_the_job_naming_it_and_stops_the_others():
    bob = host('prod-bob')
    bob.check_output('sudo systemctl stop sfdeploy-ray-bob')
    try:
        proc = run_job('-e', 'job_watch_interval=5')
        assert proc.returncode != 0
        # alice's and carol's jobs were running when their watches stopped them (not left to time out).
        assert "The job failed on bob; the other parties' jobs were stopped (alice, carol)." in proc.stdout, \
            proc.stdout[-4000:]
        # bob's job says why, at once: its Ray head (on prod-shared) does not answer.
        assert re.search(r'the Ray head at 10\.211\.2\.21:\d+ does not answer', proc.stdout), proc.stdout[-4000:]
        # One watch task, one result a head: the output does not grow with the job's length.
        watch = task_output(proc.stdout, "Watch every party's job until it ends; a failure anywhere stops the others")
        assert sorted(re.findall(r'^ok: \[(prod-[\w-]+)\]', watch, re.M)) == sorted(HEADS.values()), watch
        # carol shares bob's machine: no job process is left there either.
        for party in ('alice', 'carol'):
            leftover = host(HEADS[party]).run("pgrep -af '[j]ob_runner[.]py'")
            assert leftover.rc == 1, '%s still runs %s' % (party, leftover.stdout)
    finally:
        bob.check_output('sudo systemctl start sfdeploy-ray-bob')


@pytest.fixture(scope='module')
def federation(tmp_path_factory):
    """The institutions' merged federation file (each party's public share, with its CA)."""
    path = tmp_path_factory.mktemp('federation') / 'federation.yml'
    # As an institution exports its share: the deploy playbook's always-tagged part (the
    # topology, and the tls role adding each party's CA certificate).
    export = playbook('playbooks/production.yml', '--tags', 'always', '-e', 'federation_export_file=%s' % path)
    assert export.returncode == 0, export.stdout[-3000:]
    return path


def _certificates(text):
    return set(re.findall(r'-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----', text))


def test_each_institution_runs_only_its_party_from_a_federation_file(federation):
    """Way 2: every institution knows the others only from the shared, public federation file;
    bob and carol share a machine with their own port bases."""
    text = federation.read_text()
    assert 'rayfed_port' in text and 'PRIVATE' not in text
    exported = yaml.safe_load(text)['parties']
    assert exported['carol']['rayfed_port'] == 21008, text
    cas = {party: host(name).check_output('sudo cat %s/ca.crt' % (TLS % party)) for party, name in HEADS.items()}
    for party in HEADS:
        assert _certificates(exported[party].get('ca_cert', '')) == _certificates(cas[party]), (party, text)
    # The trust the one-controller converge wrote is gone: each institution's run must build it
    # from the file's CA certificates.
    for party, name in HEADS.items():
        host(name).check_output('sudo rm %s/peers-ca.pem' % (TLS % party))
    runs = playbooks_together(dict((party, ('playbooks/production.yml', '--limit', party, '-e', 'job_name=split',
                                            '-e', 'federation_file=%s' % federation)) for party in sorted(HEADS)))
    for party, proc in runs.items():
        assert proc.returncode == 0, '%s:\n%s' % (party, proc.stdout[-4000:])
        assert "%s: the job's result is the expected one" % party in proc.stdout.replace("''", "'")
    for party, name in HEADS.items():
        trusted = _certificates(host(name).check_output('sudo cat %s/peers-ca.pem' % (TLS % party)))
        assert trusted == set().union(*(_certificates(cas[p]) for p in HEADS if p != party)), party


def test_a_peer_that_never_starts_its_job_fails_the_others_within_the_bound_naming_it(federation):
    """alice and bob start their jobs; carol's institution never does. RayFed alone would wait
    for hours; job_peer_timeout ends both, naming carol (and not as a job_timeout)."""
    bound = ['-e', 'job_peer_timeout=45', '-e', 'job_timeout=900', '-e', 'job_reach_check=false']
    runs = playbooks_together(dict((party, (JOB_PLAYBOOK, '--limit', party, '-e', 'job_name=lonely',
                                            '-e', 'federation_file=%s' % federation) + tuple(bound))
                                   for party in ('alice', 'bob')), timeout=600)
    for party, proc in runs.items():
        out = ' '.join(proc.stdout.split())
        assert proc.returncode != 0, out[-3000:]
        assert 'The job failed on %s' % party in out, out[-3000:]
        assert 'carol never answered within 45 s (job_peer_timeout): carol at 10.211.2.21:21008' in out, out[-3000:]
        assert 'timed out' not in out
        assert host(HEADS[party]).run("pgrep -af '[j]ob_runner[.]py'").rc == 1


@pytest.mark.parametrize('margin, ahead', [('50', '150.0'), ('-1', '-3.0')])
def test_a_start_planned_beyond_the_drivers_wait_is_refused_before_any_job_starts(margin, ahead):
    """Three heads with --forks 1 at job_start_margin 50 s plan the start 150 s ahead; a driver
    waits at most 120 s (a start that far ahead would begin at once, unsynchronised). A negative
    margin is refused the same way."""
    proc = playbook(JOB_PLAYBOOK, '--forks', '1', '-e', 'job_name=toofar', '-e', 'job_start_margin=%s' % margin)
    out = ' '.join(proc.stdout.split())
    assert proc.returncode != 0, out[-3000:]
    said = 'job_start_margin is %s, which plans the start %s s ahead for 3 heads with forks 1' % (margin, ahead)
    assert said in out, out[-3000:]
    assert 'Start the job on every party' not in proc.stdout
    for party, name in HEADS.items():
        assert not host(name).file('/var/tmp/sfdeploy-jobs/toofar-%s' % party).exists, party


# molecule.yml: carol's worker has no internet and installs from the controller's wheelhouse.
OFFLINE = ('prod-carol-2',)
POOL = '/var/tmp/sfdeploy-testbed/wheelhouse-pool'
# The output of that download (prepare-ssh.yml): sf_wheelhouse without dest, the pool alone.
SEED_LOG = '/var/tmp/sfdeploy-testbed/wheelhouse-seed.log'
WHEELHOUSE = '/var/cache/sfdeploy/wheelhouse'
with open(os.path.join(ROOT, 'roles', 'secretflow', 'defaults', 'main.yml')) as _defaults:
    UV_VERSION = yaml.safe_load(_defaults)['secretflow_uv_version']
DEFAULT_LOCK = os.path.join(ROOT, 'roles', 'secretflow', 'files', 'default.lock')


def norm_name(name):
    return re.sub(r'[-_.]+', '-', name).lower()


def lock_blocks(text):
    """A lock's pins, in its order: name -> (version, its block: the pin's line and its hashes' lines)."""
    return {m.group(1): (m.group(2), m.group(0)) for m in re.finditer(
        r'^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+) \\\n(?:    --hash=sha256:[0-9a-f]{64}(?: \\)?\n)+', text, re.M)}


def _downloads():
    """The pool's download log: a line per download (its time, its number of files, ...)."""
    with open(os.path.join(POOL, 'downloads.log')) as f:
        return f.read().splitlines()


def test_hosts_without_internet_install_the_lock_from_one_download_of_the_controller():
    """The converge and its second run are behind us: the controller downloaded the lock's
    distributions once (prepare-ssh.yml emptied the pool and started that download, which the
    converge's wheelhouse step waited for on the pool's lock), for the offline worker, and
    neither run downloaded more; the worker has one copy and exactly the lock's versions."""
    downloads = _downloads()
    assert len(downloads) == 1, downloads
    with open(DEFAULT_LOCK) as f:
        lock_text = f.read()
    blocks = lock_blocks(lock_text)
    assert len(blocks) == lock_text.count('==')  # every pin, each with its hashes
    pins = {name: version for name, (version, block) in blocks.items()}
    lock_hashes = {name: set(re.findall(r'sha256:([0-9a-f]{64})', block)) for name, (version, block) in blocks.items()}
    assert int(downloads[0].split()[1]) == len(pins) + 1, downloads  # the lock's files and uv's wheel
    # That download was the background one of prepare-ssh.yml, which filled the pool and touched no host.
    with open(SEED_LOG) as f:
        seed = f.read()
    assert re.search(r'^localhost \| CHANGED => \{', seed, re.M), seed[-3000:]
    seed = json.loads(re.split(r'^localhost \| CHANGED => ', seed, flags=re.M)[1])
    assert seed['downloaded'] == len(pins) + 1 and seed['dest'] is None and seed['copied'] == 0, seed
    for name in OFFLINE:
        machine = host(name)
        # The machine is cut off the index (its own rule, prepare-ssh.yml) and still got everything.
        assert 'tcp dport 443 reject' in machine.check_output('sudo nft list table inet testbed_offline')
        # One file per pin, each with one of its pin's hashes (checked here, on the host), and uv's wheel.
        copy = dict(reversed(line.split(None, 1)) for line in machine.check_output(
            'cd %s && sha256sum *' % WHEELHOUSE).splitlines())
        assert sorted(f.split('-')[0] for f in copy if f.startswith('uv-')) == ['uv'], sorted(copy)
        assert len(copy) == len(pins) + 1, sorted(copy)
        for pin, version in pins.items():
            named = [f for f in copy if norm_name(f.split('-')[0]) == norm_name(pin) and f.split('-')[1] == version]
            assert len(named) == 1 and copy[named[0]] in lock_hashes[pin], (pin, named)
        installed = json.loads(machine.check_output(
            "%s/bin/python -c 'import importlib.metadata as m, json; "
            "print(json.dumps({d.metadata[\"Name\"]: d.version for d in m.distributions()}))'" % env(NODES[name][0])))
        norm = {norm_name(k): v for k, v in installed.items()}
        assert {k: norm.get(norm_name(k)) for k in pins} == pins, name


def test_a_machine_gets_only_the_files_it_lacks_and_a_download_or_copy_shows_its_progress(tmp_path):
    """six gone from the controller's pool, six and the largest file gone from the offline worker's:
    the wheelhouse step (the role's own arguments, progress every file) downloads six alone, copies
    those two files alone with a line per file, and a second call does nothing. Then, six gone from
    the pool again, the parties of one machine (bob and carol) get a small lock at the same time:
    one download for both (the first takes the pool's lock and fetches six, the other finds it), and
    one copy (they take turns on the machine: one copies, the other finds the files)."""
    with open(os.path.join(POOL, 'index.json')) as f:
        pool = {name: digest for digest, name in json.load(f).items()}
    six = [n for n in pool if n.startswith('six-')][0]
    largest = max(pool, key=lambda n: os.path.getsize(os.path.join(POOL, n)))
    os.unlink(os.path.join(POOL, six))
    (name,) = OFFLINE
    worker = host(name)
    worker.check_output('sudo rm %s/%s %s/%s' % (WHEELHOUSE, six, WHEELHOUSE, largest))
    downloads = _downloads()
    args = {'lock_file': DEFAULT_LOCK, 'pool': POOL, 'uv_version': UV_VERSION, 'dest': WHEELHOUSE,
            'progress_interval': 0}
    proc = run_module(name, 'sfdeploy.secretflow.sf_wheelhouse', args)
    out = proc.stdout
    assert proc.returncode == 0 and re.search(r'^%s \| CHANGED =>' % name, out, re.M), out[-3000:]
    assert 'sfdeploy wheelhouse: downloading what the pool lacks from https://pypi.org/simple: 1 file\n' in out, out
    assert 'downloading what the pool lacks from https://pypi.org/simple: done, 1 of 1 files' in out, out
    copying = 'sfdeploy wheelhouse: copying to %s:%s: ' % (name, WHEELHOUSE)
    assert re.search(re.escape(copying) + r'2 files \(\d+ MB\)\n', out), out
    assert re.search(re.escape(copying) + r'1 of 2 files done, \d+(\.\d)? (kB|MB) of \d+ MB, 1 left, \d+ s', out), out
    assert re.search(re.escape(copying) + r'done, 2 of 2 files, \d+ MB in \d+ s', out), out
    after = _downloads()
    assert after[:-1] == downloads and after[-1].split()[1:3] == ['1', 'files'], after
    for wheel in (six, largest):
        assert worker.check_output('sha256sum %s/%s' % (WHEELHOUSE, wheel)).split()[0] == pool[wheel]
    again = run_module(name, 'sfdeploy.secretflow.sf_wheelhouse', args)
    assert again.returncode == 0 and 'sfdeploy wheelhouse' not in again.stdout, again.stdout[-3000:]
    assert again.stdout.count(' | SUCCESS =>') == 1 and ' | CHANGED' not in again.stdout, again.stdout[-3000:]
    assert _downloads() == after

    # A small lock (three pins of the default one) into a scratch directory of prod-shared.
    with open(DEFAULT_LOCK) as f:
        text = f.read()
    blocks = [block for name, (version, block) in lock_blocks(text).items() if name in ('six', 'idna', 'filelock')]
    small = tmp_path / 'small.lock'
    small.write_text(text.splitlines(True)[0] + ''.join(blocks))
    scratch = '/var/tmp/sfdeploy-test-wheelhouse'
    shared = dict(args, lock_file=str(small), dest=scratch, machine='prod-shared')
    os.unlink(os.path.join(POOL, six))
    try:
        proc = run_module('prod-bob,prod-carol', 'sfdeploy.secretflow.sf_wheelhouse', shared)
        assert proc.returncode == 0, proc.stdout[-3000:]
        # One download for both hosts: the first took the pool's lock and fetched six, the other found it.
        assert proc.stdout.count('sfdeploy wheelhouse: downloading what the pool lacks') == 2, proc.stdout  # start, end
        last = _downloads()
        assert last[:-1] == after and last[-1].split()[1:3] == ['1', 'files'], last
        starts = re.findall(r'^sfdeploy wheelhouse: copying to (prod-bob|prod-carol):%s: (\d+) files' % scratch,
                            proc.stdout, re.M)
        assert len(blocks) == 3 and len(starts) == 1 and starts[0][1] == '4', proc.stdout[-3000:]  # and uv's wheel
        # Each host reports a change for what it did itself: the download into the pool, the copy onto
        # the machine (one host or two, whichever took each lock first); the other reports none.
        did = {}
        for block in re.split(r'^(?=prod-(?:bob|carol) \| )', proc.stdout, flags=re.M)[1:]:
            status = re.match(r'prod-(bob|carol) \| (CHANGED|SUCCESS) =>', block)
            copied, downloaded = (int(re.search(r'^\s+%s: (\d+)$' % k, block, re.M).group(1))
                                  for k in ('copied', 'downloaded'))
            did[status.group(1)] = (status.group(2) == 'CHANGED', copied > 0, downloaded > 0)
        assert set(did) == {'bob', 'carol'} and all(c == (cp or dl) for c, cp, dl in did.values()), did
        assert sorted(cp for _c, cp, _dl in did.values()) == [False, True], did
        assert sorted(dl for _c, _cp, dl in did.values()) == [False, True], did
        assert len(host('prod-bob').check_output('ls %s' % scratch).split()) == 4
    finally:
        host('prod-bob').run('sudo rm -rf %s' % scratch)


def test_an_offline_host_on_the_index_is_refused_naming_it_before_any_host_changes():
    # Another uv than the installed one: every host has something to install from the index (a host
    # whose packages match the pins needs no index, and is not asked: test_2_security's verbose run).
    proc = playbook('playbooks/production.yml', '--skip-tags', 'job', '-e', 'secretflow_install_source=index',
                    '-e', 'secretflow_uv_version=0.4.30')
    out = ' '.join(proc.stdout.split())
    assert proc.returncode != 0, proc.stdout[-3000:]
    for name in OFFLINE:
        assert '%s: cannot reach the package index https://pypi.org/simple (secretflow_index_url)' % name in out, \
            proc.stdout[-3000:]
    # The heads reach it (the positive control): only the offline worker is named.
    for name in set(NODES) - set(OFFLINE):
        assert '%s: cannot reach the package index' % name not in out
    assert set(changed_counts(proc.stdout)) == {0}, proc.stdout[-3000:]


def test_the_preflight_names_every_os_package_a_host_cannot_get_before_any_host_changes():
    """Two roles ask for packages no mirror has (the secretflow role one, the tls role one on the
    heads), and prod-carol-2 loses its Debian mirror too (its own rule, removed after): every host
    is named with all of its missing packages at once, carol-2's as a mirror it cannot reach, in the
    preflight, with changed=0 everywhere."""
    carol2 = host('prod-carol-2')
    carol2.check_output("sudo nft -f - <<'RULES'\ntable inet testbed_nomirror {\n  chain out {\n"
                        "    type filter hook output priority 0;\n    ip daddr != 10.211.2.0/24 tcp dport 80 reject\n"
                        "  }\n}\nRULES")
    try:
        proc = playbook('playbooks/production.yml', '--skip-tags', 'job', '-e', json.dumps({
            'secretflow_os_packages': ['libgomp1', 'sfdeploy-no-such-lib'],
            'tls_os_packages': ['python3-cryptography', 'stunnel4', 'sfdeploy-no-such-tls']}))
    finally:
        carol2.run('sudo nft delete table inet testbed_nomirror')
    out = ' '.join(proc.stdout.split())
    assert proc.returncode != 0, proc.stdout[-3000:]
    for name in NODES:
        head = NODES[name][2]
        wanted = 'sfdeploy-no-such-lib, sfdeploy-no-such-tls' if head else 'sfdeploy-no-such-lib'
        why = ("the distribution's mirror cannot provide them" if name == 'prod-carol-2'
               else 'the package manager has no candidate for them')
        assert '%s: these OS packages are missing and %s: %s.' % (name, why, wanted) in out, (name, proc.stdout[-3000:])
    assert 'Failed to fetch' in out  # carol-2's apt said why
    assert set(changed_counts(proc.stdout)) == {0}, proc.stdout[-3000:]


def test_a_wheelhouse_file_that_does_not_match_the_lock_is_refused_and_nothing_installed(tmp_path):
    """A lock whose hashes for six match no file of the site's wheelhouse (here the pool itself,
    given as secretflow_wheelhouse_dir): refused on the controller, before any copy or install."""
    with open(DEFAULT_LOCK) as f:
        text = f.read()
    block = lock_blocks(text)['six'][1]
    tampered = tmp_path / 'tampered.lock'
    tampered.write_text(text.replace(block, re.sub(r'sha256:[0-9a-f]{64}', 'sha256:' + '0' * 64, block)))
    before = {name: host(name).check_output('ls -l --time-style=+%%s %s/lib/python3*/site-packages | md5sum'
                                            % env(NODES[name][0])) for name in OFFLINE}
    proc = playbook('playbooks/production.yml', '--skip-tags', 'job', '-e',
                    json.dumps({'secretflow_lock_file': str(tampered), 'secretflow_wheelhouse_dir': POOL}))
    out = ' '.join(proc.stdout.split())
    assert proc.returncode != 0, proc.stdout[-3000:]
    assert re.search(r"the wheelhouse does not match the lock, nothing is installed: six==\S+: six-\S+\.whl has a "
                     r"sha256 that is not among the lock's hashes", out), proc.stdout[-3000:]
    assert set(changed_counts(proc.stdout)) == {0}, proc.stdout[-3000:]
    assert {name: host(name).check_output('ls -l --time-style=+%%s %s/lib/python3*/site-packages | md5sum'
                                          % env(NODES[name][0])) for name in OFFLINE} == before
