"""The bench's CPU split (tests/bench/bench.py: acct_records, cpu_by_kind): each ended process
goes to the nearest command above it that says what it is; the hosts' Python is an Ansible
module only when nothing listed is above it; reused pids find the right parent."""
import importlib.util
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location('bench', os.path.join(HERE, '..', 'bench', 'bench.py'))
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)

UV, APT, MODULES = bench.KINDS[0][0], bench.KINDS[1][0], bench.HOST_MODULES


def _record(pid, ppid, begin, cpu, comm):
    return {'pid': pid, 'ppid': ppid, 'begin': begin, 'seconds': 1.0, 'cpu': cpu, 'comm': comm}


def test_each_process_goes_to_the_nearest_listed_command_above_it():
    records = [
        _record(10, 1, 100, 0.3, 'sh'),
        _record(11, 10, 100, 0.25, 'python3.11'),       # a module, run by the connection's shell
        _record(12, 11, 101, 13.0, 'main2'),            # uv (its main thread's name), run by that module
        _record(13, 11, 102, 0.5, 'apt-get'),           # apt, run by another module
        _record(14, 13, 102, 0.4, 'dpkg'),
        _record(15, 14, 103, 0.1, 'py3compile'),        # a package's script under dpkg
        _record(16, 15, 103, 0.7, 'python3.11'),        # ... and the Python it runs: apt's, not a module
        _record(17, 1, 104, 2.0, 'ansible-playboo'),
        _record(18, 17, 104, 0.1, 'ssh'),               # the controller's ssh
        _record(19, 1, 105, 0.2, 'ray::IDLE'),
        _record(20, 1, 105, 0.05, 'cron'),
    ]
    kinds = bench.cpu_by_kind(records, 20.0)
    assert kinds[UV] == 13.0
    assert round(kinds[APT], 2) == 1.7
    assert round(kinds[MODULES], 2) == 0.25
    assert round(kinds['the controller (ansible-playbook and its forks, ssh)'], 2) == 2.1
    assert kinds[bench.RAY] == 0.2
    assert round(kinds['other'], 2) == 0.35            # the shell and cron: nothing listed above them
    assert round(kinds[bench.UNACCOUNTED], 2) == round(20.0 - sum(r['cpu'] for r in records), 2)


def test_a_reused_pid_is_the_parent_alive_when_the_child_began():
    records = [
        _record(30, 1, 100, 1.0, 'uv'),                 # pid 30 first: uv
        _record(31, 30, 101, 1.0, 'python3'),           # ... whose child it is (listed itself)
        _record(30, 1, 200, 1.0, 'sh'),                 # pid 30 again, later: a shell
        _record(32, 30, 201, 3.0, 'python3.11'),        # a module under that shell, not under uv
    ]
    kinds = bench.cpu_by_kind(records, 6.0)
    assert kinds[MODULES] == 3.0 and kinds[UV] == 1.0


def test_acct_records_read_the_kernels_acct_v3_layout(tmp_path):
    # comp_t 0x2000 | 5 is 5 * 8 = 40 ticks (0.4 s); utime 0.4 s + stime 0.25 s.
    raw = struct.pack(bench.ACCT_FORMAT, b'\0', b'\3', 0, 0, 0, 0, 42, 7, 1700000000, 150.0,
                      0x2000 | 5, 25, 0, 0, 0, 0, 0, 0, b'apt-get'.ljust(16, b'\0'))
    path = tmp_path / 'acct'
    path.write_bytes(raw * 2)
    records = bench.acct_records(str(path))
    assert len(records) == 2
    assert records[0] == {'pid': 42, 'ppid': 7, 'begin': 1700000000, 'seconds': 1.5, 'cpu': 0.65, 'comm': 'apt-get'}
