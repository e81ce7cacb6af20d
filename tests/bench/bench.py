"""The deployment benchmark (run by scripts/bench.sh): three fresh Debian hosts on the test bed,
reached over SSH as a non-root user with sudo, one party each, production, defaults. It prints
one table: each figure with the floor it is judged against, measured in the same run.

  floor      apt-get update + the OS packages + a venv + uv and the pinned package set, typed by
             hand on the three hosts in parallel (the work a deployment cannot avoid); beside it
             the same plus a Ray head started by hand on each (ray start --head), which the
             first floor leaves out
  cold       production.yml --skip-tags job on fresh hosts
  no-op      the same again (nothing to do: changed=0)
  job        the bundled example through sf_job, and the same runner with the same spec started by
             hand on the three heads at once (ssh, no Ansible), both after a first job has warmed
             the clusters up; three runs of each, alternated. Each party's time runs from its
             driver's launch (sf_job: its spec written; by hand: the command typed) to its result,
             so SecretFlow's import and sf_job's wait for the common start are both in it
  skew       the launch skew with --forks 1
  setup.sh   scripts/setup.sh --skip-tags job a second time (this machine, the local inventory)

Each row's CPU is the whole machine's (the controller and the hosts share its cores). Process
accounting (acct(2), root) splits the floor's, the cold run's and the no-op run's by what did
it: uv, apt and dpkg, the venv, the environment's Python, Ray, Ansible's controller and its
modules on the hosts (cpu_by_kind).

The hosts share the test bed's package cache (/var/cache/sfdeploy-testbed/uv), for the floor and
the converge alike, as a site mirror would: what is compared is the orchestration around the
installs, not the network.
"""
import bisect
import collections
import ctypes
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IMAGE = os.environ.get('SFDEPLOY_TESTBED_IMAGE', '')  # scripts/bench.sh sets it (the unit tests need none)
NETWORK, SUBNET = 'sfdeploy-bench', '10.211.3.0/24'
HOSTS = {'bench-alice': ('alice', '10.211.3.11'), 'bench-bob': ('bob', '10.211.3.21'),
         'bench-carol': ('carol', '10.211.3.31')}
KEY = '/var/tmp/sfdeploy-testbed/id_ed25519'
SSH = ['ssh', '-i', KEY, '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
       '-o', 'LogLevel=ERROR']
CACHE = '/var/cache/sfdeploy-testbed/uv'
VALUES = {'alice': [11, 22, 33], 'bob': [40, 25], 'carol': [70]}


def sh(argv, **kw):
    return subprocess.run(argv, check=True, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)


def on_host(name, script):
    """Run a shell script as root on a test host over SSH; (seconds, output)."""
    start = time.time()
    # The script goes on stdin: the floor's carries the whole lock, more than one argument may hold.
    proc = subprocess.run(SSH + ['deploy@%s' % HOSTS[name][1], 'sudo bash -s'], input=script,
                          text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    if proc.returncode != 0:
        raise RuntimeError('%s failed on %s:\n%s' % (script[:80], name, proc.stdout[-3000:]))
    return time.time() - start, proc.stdout


def everywhere(script_for):
    """Run script_for(name) on every host at once; wall-clock seconds and outputs."""
    start = time.time()
    with ThreadPoolExecutor(len(HOSTS)) as ex:
        outs = dict(zip(HOSTS, ex.map(lambda n: on_host(n, script_for(n))[1], HOSTS)))
    return time.time() - start, outs


def inventory(directory):
    secretflow = {'children': {}, 'vars': {
        'ansible_connection': 'ssh', 'ansible_user': 'deploy', 'ansible_become': True,
        'ansible_ssh_private_key_file': KEY,
        'ansible_ssh_common_args': '-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null',
        'federation_address': '{{ ansible_host }}', 'ray_num_cpus': 2, 'ray_object_store_memory': 300000000,
        'job_args': {'values': VALUES},
        'job_expected_result': {'total': 201, 'richest': 'carol'}}}
    for name, (party, ip) in HOSTS.items():
        # testbed_machines (below) holds only federation hosts, so it could be a party too: say which.
        secretflow['children'][party] = {'hosts': {name: {'ansible_host': ip, 'federation_party': party}}}
    data = {'all': {'children': {
        'secretflow': secretflow,
        'testbed_machines': {'hosts': {n: {'ansible_host': ip} for n, (p, ip) in HOSTS.items()}}}}}
    path = os.path.join(directory, 'hosts.yml')
    with open(path, 'w') as f:
        yaml.safe_dump(data, f)
    return path


def machine_cpu():
    """CPU-seconds the whole machine has used since boot (the controller, the hosts, everything):
    /proc/stat's busy fields (idle, I/O wait and the hypervisor's steal left out)."""
    with open('/proc/stat') as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq = fields[:7]
    return (user + nice + system + irq + softirq) / os.sysconf('SC_CLK_TCK')


def with_cpu(run, *args, **kwargs):
    """run(*args, **kwargs)'s return value, and the machine's CPU-seconds during it."""
    before = machine_cpu()
    value = run(*args, **kwargs)
    return value, machine_cpu() - before


# BSD process accounting (acct(2), struct acct_v3): every process that ends during a run, with
# its CPU and its parent, so that a row's CPU can be split by what did it (cpu_by_kind).
ACCT_FORMAT = '<ccHIIIIIIf8H16s'
ACCT_SIZE = struct.calcsize(ACCT_FORMAT)
# A process's kind is that of its nearest ancestor (itself first) whose command is listed here.
# The hosts' own Python (python3.11, Debian 12's, the one Ansible finds) is not listed: it is an
# Ansible module when no listed command is above it, else part of what ran it (py3compile).
RAY = 'Ray (ray, raylet, gcs_server, workers)'
KINDS = (
    ('uv installing the packages', ('uv', 'main2', 'tokio-rt-worker')),
    ('apt and dpkg (OS packages, package lists)', ('apt-get', 'apt-cache', 'apt', 'dpkg')),
    ('python3 -m venv (with ensurepip)', ('python3',)),
    ("the environment's Python (pip installing uv, version checks, Ray's CLI)", ('python', 'pip')),
    (RAY, ('ray', 'raylet', 'gcs_server')),
    ('the controller (ansible-playbook and its forks, ssh)', ('ansible-playboo',)),
)
HOST_MODULES = 'Ansible modules on the hosts (python3.11)'
UNACCOUNTED = 'still running at the end, or the kernel (Ray daemons, sshd, podman)'


def _comp(value):
    """acct's comp_t: 13-bit mantissa, 3-bit base-8 exponent."""
    return (value & 0x1fff) << (3 * (value >> 13))


def acct_records(path):
    records = []
    with open(path, 'rb') as f:
        data = f.read()
    for offset in range(0, len(data) - ACCT_SIZE + 1, ACCT_SIZE):
        fields = struct.unpack(ACCT_FORMAT, data[offset:offset + ACCT_SIZE])
        records.append({'pid': fields[6], 'ppid': fields[7], 'begin': fields[8], 'seconds': fields[9] / 100.0,
                        'cpu': (_comp(fields[10]) + _comp(fields[11])) / 100.0,
                        'comm': fields[18].split(b'\0')[0].decode(errors='replace')})
    return records


def cpu_by_kind(records, machine):
    """CPU-seconds by KINDS (and HOST_MODULES, other), with the machine's rest as UNACCOUNTED."""
    by_pid = collections.defaultdict(list)
    for r in sorted(records, key=lambda r: r['begin']):
        by_pid[r['pid']].append(r)
    begins = dict((pid, [r['begin'] for r in rs]) for pid, rs in by_pid.items())

    def parent(r):
        # pids are reused: the parent is the last process of that pid begun before r.
        i = bisect.bisect_right(begins.get(r['ppid'], []), r['begin'])
        return by_pid[r['ppid']][i - 1] if i else None

    owners = dict((comm, kind) for kind, comms in KINDS for comm in comms)
    totals = collections.OrderedDict((kind, 0.0) for kind, _comms in KINDS)
    totals[HOST_MODULES] = totals['other'] = 0.0
    for r in records:
        kind, seen, node = None, False, r
        for _depth in range(64):
            if node is None:
                break
            kind = owners.get(node['comm']) or (RAY if node['comm'].startswith('ray::') else None)
            if kind:
                break
            seen = seen or node['comm'] == 'python3.11'
            node = parent(node)
        totals[kind or (HOST_MODULES if seen else 'other')] += r['cpu']
    totals[UNACCOUNTED] = max(0.0, machine - sum(totals.values()))
    return totals


def accounted(run, *args, **kwargs):
    """with_cpu(run, ...) under process accounting: (value, CPU-seconds, CPU by kind or None when
    this kernel or user cannot account)."""
    libc = ctypes.CDLL(None, use_errno=True)
    with tempfile.NamedTemporaryFile(prefix='sfdeploy-acct-') as f:
        if libc.acct(f.name.encode()) != 0:
            value, cpu = with_cpu(run, *args, **kwargs)
            return value, cpu, None
        try:
            value, cpu = with_cpu(run, *args, **kwargs)
        finally:
            libc.acct(None)
        return value, cpu, cpu_by_kind(acct_records(f.name), cpu)


def settled():
    """Let every phase start from the same machine state: the previous phase's writes (a removed
    host's 2.4 GB environment, the floor's) written back, and the page cache emptied. Without
    that, uv's copying into the environment cost the kernel more phase after phase (measured
    here, the floor's very install on fresh hosts four times in a row: uv 17.6, 45.7, 80.4,
    72.0 CPU-s; after emptying the cache before each, 20.6, 28.7, 26.1), so the floor, measured
    first, was favoured over the rows after it. The state that piled up: the removed hosts'
    memory cgroups, left dying while cached pages (the uv cache's files, read first by each
    host) were charged to them - 116 memory cgroups before emptying the cache, 14 after. Every
    phase now reads the uv cache from the disk alike."""
    os.sync()
    try:
        with open('/proc/sys/vm/drop_caches', 'w') as f:
            f.write('3\n')
    except OSError:
        pass  # not root: the rows then drift as described


def playbook(inv, path, *extra, count_file=None, timeline_file=None):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), ANSIBLE_NOCOLOR='1',
               ANSIBLE_HOST_KEY_CHECKING='False', ANSIBLE_PIPELINING='True',
               ANSIBLE_CALLBACK_PLUGINS=os.path.join(ROOT, 'tests', 'bench', 'callback_plugins'),
               ANSIBLE_CALLBACKS_ENABLED='sfdeploy_count', SFDEPLOY_COUNT_FILE=count_file or os.devnull,
               SFDEPLOY_TIMELINE_FILE=timeline_file or os.devnull)
    start = time.time()
    proc = subprocess.run(['ansible-playbook', '-i', inv, os.path.join(ROOT, path)] + list(extra), cwd=ROOT,
                          env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    seconds = time.time() - start
    if proc.returncode != 0:
        raise RuntimeError('%s failed:\n%s' % (path, proc.stdout[-5000:]))
    return seconds, proc.stdout


def fresh_hosts(inv):
    """Remove the bench's hosts if any, then start three fresh ones and open SSH on them."""
    destroy()
    sh(['bash', os.path.join(ROOT, 'molecule/resources/testbed-network.sh'), NETWORK, SUBNET])
    os.makedirs(CACHE, exist_ok=True)
    for name, (party, ip) in HOSTS.items():
        sh(['podman', 'run', '-d', '--name', name, '--hostname', name, '--network', NETWORK, '--ip', ip,
            '--systemd=always', '--cap-add', 'NET_ADMIN', '-v', '%s:/var/cache/sfdeploy/uv' % CACHE,
            IMAGE, '/sbin/init'])
    playbook(inv, 'molecule/resources/prepare-ssh.yml')


def destroy():
    subprocess.run(['podman', 'rm', '-f', '-t', '2'] + list(HOSTS), capture_output=True, check=False)


def floor_script(name):
    """The same install as the roles', by hand: OS packages, venv, uv, the default lock's distributions."""
    defaults = yaml.safe_load(open(os.path.join(ROOT, 'roles/secretflow/defaults/main.yml')))
    vars_ = yaml.safe_load(open(os.path.join(ROOT, 'roles/secretflow/vars/main.yml')))
    with open(os.path.join(ROOT, 'roles/secretflow/files/default.lock')) as f:
        lock_text = f.read()
    os_packages = (['python3-venv'] + vars_['_secretflow_os_packages']['Debian'] + ['nftables']
                   + ['python3-cryptography', 'stunnel4'])
    return '\n'.join([
        'set -e', 'export DEBIAN_FRONTEND=noninteractive',
        'apt-get update -q >/dev/null',
        'apt-get install -y -q %s >/dev/null' % ' '.join(os_packages),
        'python3 -m venv /opt/floor',
        '/opt/floor/bin/pip install -q --disable-pip-version-check uv==%s' % defaults['secretflow_uv_version'],
        "cat > /tmp/floor.lock <<'SFDEPLOY_LOCK'\n%sSFDEPLOY_LOCK" % lock_text,
        'SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt UV_CACHE_DIR=/var/cache/sfdeploy/uv '
        '/opt/floor/bin/uv pip install -q --python /opt/floor/bin/python --require-hashes --no-deps -r /tmp/floor.lock',
    ])


def ray_by_hand_script(name):
    """A Ray head started by hand in the floor's environment, as the roles start it (one CPU pool,
    the object store size, the party's resource, no dashboard): the boot a deployment cannot avoid."""
    party, ip = HOSTS[name]
    return ('/opt/floor/bin/ray start --head --node-ip-address=%s --port=6379 --num-cpus=2 '
            '--object-store-memory=300000000 --include-dashboard=false --disable-usage-stats '
            '--resources=\'{"%s": 16}\' >/dev/null' % (ip, party))


def slowest(timeline_file, count=8):
    """The cold run's slowest tasks: (start, seconds, name), start from the run's first task,
    seconds until the last host's result."""
    with open(timeline_file) as f:
        entries = json.load(f)
    first = min(e[2] for e in entries)
    tasks = {}
    for _host, name, started, ended, _ran in entries:
        key = (started, name)
        tasks[key] = max(tasks.get(key, started), ended)
    rows = sorted(((started - first, ended - started, name) for (started, name), ended in tasks.items()),
                  key=lambda r: -r[1])[:count]
    return sorted(rows)


def totals(count_file):
    with open(count_file) as f:
        counts = json.load(f)
    hosts = [c for h, c in counts.items() if h in HOSTS]
    return max(c['tasks'] for c in hosts), max(c['round_trips'] for c in hosts)


# The job's runs, alternated (see main).
JOB_ORDER = ('hand', 'sf_job', 'sf_job', 'hand', 'hand', 'sf_job')


def mean(values):
    values = list(values)
    return sum(values) / len(values)


def median(values):
    """The job row's statistic: one run held up (a by-hand run once took 70.8 s against 17 to 18 s
    for the others of its kind) moves a mean of three by a third, a median not."""
    values = sorted(values)
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def job_durations(out):
    rows = re.findall(r'^\s+(alice|bob|carol)\s+ok\s+([\d.]+)s', out, re.M)
    skew = re.search(r'launch skew \(latest start - earliest start\): ([\d.]+) s', out)
    return {p: float(d) for p, d in rows}, float(skew.group(1)) if skew else None


def by_hand_script(name):
    """The runner sf_job wrote, with its spec, started by hand; prints its result with the
    instant it was launched (``launched``)."""
    party = HOSTS[name][0]
    d = '/var/tmp/sfdeploy-jobs/bench-%s' % party
    return '\n'.join([
        'set -e', 'cd %s' % d,
        "python3 -c 'import json; s=json.load(open(\"spec.json\")); s.pop(\"start_at\", None); "
        "s[\"result_path\"]=\"%s/hand-result.json\"; s[\"status_path\"]=\"%s/hand-status.json\"; "
        "json.dump(s, open(\"hand-spec.json\", \"w\"))'" % (d, d),
        'launched=$(date +%s.%N)',
        '/opt/sfdeploy/envs/%s/bin/python job_runner.py hand-spec.json > hand.log 2>&1' % party,
        "python3 -c 'import json, sys; r=json.load(open(\"hand-result.json\")); r[\"launched\"]=float(sys.argv[1]); "
        "print(json.dumps(r))' \"$launched\""])


def sf_job_times(job_name):
    """Each party's driver result, with the instant it was launched (its spec written)."""
    def one(name):
        d = '/var/tmp/sfdeploy-jobs/%s-%s' % (job_name, HOSTS[name][0])
        out = on_host(name, "python3 -c 'import json, os; r=json.load(open(\"%s/result.json\")); "
                            "r[\"launched\"]=os.path.getmtime(\"%s/spec.json\"); print(json.dumps(r))'" % (d, d))[1]
        return json.loads(out.strip().splitlines()[-1])
    return [one(name) for name in HOSTS]


# Where a driver's time goes, launch to result: (phase, from, to) in its result.
PHASES = (('import', 'launched', 'prepared'), ('wait', 'prepared', 'started'), ('job', 'started', 'finished'))


def phases(results):
    """Mean over the parties of each phase's seconds."""
    return dict((phase, mean(r[end] - r[begin] for r in results)) for phase, begin, end in PHASES)


def main():
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        inv = inventory(tmp)
        count, timeline = os.path.join(tmp, 'count.json'), os.path.join(tmp, 'timeline.json')
        try:
            fresh_hosts(inv)
            settled()
            (floor, _unused), floor_cpu, floor_kinds = accounted(everywhere, floor_script)
            (ray_boot, _unused), ray_cpu, ray_kinds = accounted(everywhere, ray_by_hand_script)
            fresh_hosts(inv)
            settled()
            (cold, _unused), cold_cpu, cold_kinds = accounted(playbook, inv, 'playbooks/production.yml',
                                                              '--skip-tags', 'job', count_file=count,
                                                              timeline_file=timeline)
            cold_tasks, cold_trips = totals(count)
            cold_slowest = slowest(timeline)
            (noop, out), noop_cpu, noop_kinds = accounted(playbook, inv, 'playbooks/production.yml',
                                                          '--skip-tags', 'job', count_file=count)
            noop_tasks, noop_trips = totals(count)
            changed = sorted(set(int(n) for n in re.findall(r'changed=(\d+)', out)))
            # A first job warms the new clusters up (workers, imports) and writes the spec the by-hand run
            # uses; then by hand and through sf_job, three times each in the order ABBAAB (a drift of the
            # machine's speed during the runs falls on both alike), each on warm clusters.
            playbook(inv, 'molecule/resources/production-job.yml', '-e', 'job_name=bench')
            durations, hand_durations, split = [], [], {'sf_job': [], 'hand': []}
            for i, kind in enumerate(JOB_ORDER):
                if kind == 'hand':
                    _unused, hand = everywhere(by_hand_script)
                    results = [json.loads(o.strip().splitlines()[-1]) for o in hand.values()]
                    hand_durations.append(mean([r['finished'] - r['launched'] for r in results]))
                else:
                    playbook(inv, 'molecule/resources/production-job.yml', '-e', 'job_name=measured%d' % i)
                    results = sf_job_times('measured%d' % i)
                    durations.append(mean([r['finished'] - r['launched'] for r in results]))
                split[kind].append(phases(results))
            _unused, out = playbook(inv, 'molecule/resources/production-job.yml', '--forks', '1', '-e', 'job_name=skew')
            _unused, skew = job_durations(out)
        finally:
            destroy()
    local_env = dict(os.environ)
    subprocess.run([os.path.join(ROOT, 'scripts/setup.sh'), '--skip-tags', 'job'], env=local_env,
                   capture_output=True, check=True)
    start = time.time()
    subprocess.run([os.path.join(ROOT, 'scripts/setup.sh'), '--skip-tags', 'job'], env=local_env,
                   capture_output=True, check=True)
    setup_again = time.time() - start

    sf, hand_median = median(durations), median(hand_durations)
    rows = [
        ('floor: apt-get update + OS packages + venv + uv install, 3 hosts in parallel',
         '%.0f s (CPU %.0f s)' % (floor, floor_cpu), '-', '-'),
        ('floor + the Ray heads started by hand (ray start --head, 3 hosts in parallel)',
         '%.0f s (+%.0f s; CPU %.0f s)' % (floor + ray_boot, ray_boot, floor_cpu + ray_cpu), '-', '-'),
        ('production.yml --skip-tags job, cold (tasks / round trips a host: %d / %d)' % (cold_tasks, cold_trips),
         '%.0f s (CPU %.0f s)' % (cold, cold_cpu),
         '%.1fx the floor, %.1fx with Ray' % (cold / floor, cold / (floor + ray_boot)), 'at most 1.5x'),
        ('the same again, nothing to do (changed=%s; tasks / round trips a host: %d / %d)'
         % (','.join(map(str, changed)), noop_tasks, noop_trips), '%.0f s (CPU %.0f s)' % (noop, noop_cpu), '-',
         'at most 20 s'),
        ('scripts/setup.sh --skip-tags job a second time (local inventory)', '%.0f s' % setup_again, '-',
         'at most 10 s'),
        ('launch skew with --forks 1, three parties', '%.2f s' % skew, '-', 'at most 0.5 s'),
        ('the job through sf_job vs the same runner started by hand (launch to result, mean of parties; '
         'median of 3 runs each: '
         '%s vs %s)'
         % (' '.join('%.1f' % d for d in durations), ' '.join('%.1f' % d for d in hand_durations)),
         '%.1f s vs %.1f s' % (sf, hand_median), '%.2fx' % (sf / hand_median), '1.0x'),
    ]
    width = max(len(r[0]) for r in rows)
    print('| %s | measured | against the floor | goal |' % 'figure'.ljust(width))
    print('|%s|---|---|---|' % ('-' * (width + 2)))
    for r in rows:
        print('| %s | %s | %s | %s |' % (r[0].ljust(width), r[1], r[2], r[3]))
    print('\nThe job runs, launch to result (mean of parties), by phase: import (SecretFlow\'s, and the script),')
    print('wait (for the parties\' common start), job (sf.init to the result):')
    for kind in ('sf_job', 'hand'):
        cells = ['%s %s' % (phase, ' '.join('%.1f' % run[phase] for run in split[kind])) for phase, _b, _e in PHASES]
        print('  %-7s %s' % (kind, '  '.join(cells)))
    print('\nThe cold run\'s slowest tasks (from its start, seconds until the last host\'s result):')
    for start, seconds, name in cold_slowest:
        print('  %5.1f  %5.1f  %s' % (start, seconds, name))
    print('\nCPU: CPU-seconds of the whole machine (controller and hosts) during the row\'s run.')
    if cold_kinds:
        print('\nWhere the CPU went (CPU-seconds; process accounting: each process that ended during the run')
        print('by the nearest command above it that says what it is):')
        floor_ray = dict((k, floor_kinds[k] + ray_kinds[k]) for k in floor_kinds)
        print('  %-72s %10s %6s %6s' % ('', 'floor+Ray', 'cold', 'no-op'))
        for kind in cold_kinds:
            print('  %-72s %10.1f %6.1f %6.1f' % (kind, floor_ray[kind], cold_kinds[kind], noop_kinds[kind]))
        print('  %-72s %10.1f %6.1f %6.1f' % ('the whole machine', floor_cpu + ray_cpu, cold_cpu, noop_cpu))
    print('\n%s, %d cores, %s' % (time.strftime('%Y-%m-%d'), os.cpu_count(), IMAGE))


if __name__ == '__main__':
    sys.exit(main())
