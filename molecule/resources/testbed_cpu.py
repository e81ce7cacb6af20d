"""pytest plugin of the scenarios' tests (the verifier's options load it: -p testbed_cpu): the
CPU seconds each test took, and the tests that took the most in a table at the end, beside
pytest's slowest durations. On 2 cores the suite is bound by the CPU, so a test's CPU, not its
wall time, is what it costs the other scenarios. Read from the scenario's cgroup (scripts/test.sh puts each
scenario, its controller side and its hosts, in one, on cgroup v1 as root): a test's figure is
everything its scenario did meanwhile, the hosts' idle Ray included. Without that cgroup (a
scenario run by hand) there is no table."""
import os

import pytest

_CPU = {}
_START = {}


def usage():
    """The scenario's CPU seconds so far, or None."""
    cgroup = os.environ.get('SFDEPLOY_TESTBED_CGROUP')
    if not cgroup:
        return None
    try:
        with open('/sys/fs/cgroup/cpuacct%s/cpuacct.usage' % cgroup) as f:
            return int(f.read()) / 1e9
    except (IOError, OSError, ValueError):
        return None


def pytest_sessionstart(session):
    _START['cpu'] = usage()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    before = usage()
    yield
    after = usage()
    if before is not None and after is not None:
        _CPU[item.nodeid] = after - before


def pytest_terminal_summary(terminalreporter):
    if not _CPU:
        return
    tr = terminalreporter
    tr.write_sep('=', 'most CPU 20 (the scenario: its controller side and hosts)')
    if _START.get('cpu') is not None:
        tr.write_line('%8.1f s CPU  before the tests (create, prepare, converge)' % _START['cpu'])
    tr.write_line('%8.1f s CPU  the tests, %d of them' % (sum(_CPU.values()), len(_CPU)))
    for nodeid, cpu in sorted(_CPU.items(), key=lambda kv: -kv[1])[:20]:
        tr.write_line('%8.1f s CPU  %s' % (cpu, nodeid.split('/tests/')[-1]))
