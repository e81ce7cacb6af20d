"""A watch round without a module (job_watch, run alone on the host by the sf_job action): it says
"collect" as soon as the module has something to report, and otherwise what the job is doing."""
import inspect
import json
import os
import subprocess
import sys
import threading
import time

from ansible_collections.sfdeploy.secretflow.plugins.module_utils import job_watch
from ansible_collections.sfdeploy.secretflow.plugins.module_utils.job_config import FATAL_LOG_PATTERNS
from ansible_collections.sfdeploy.secretflow.plugins.module_utils.job_process import JobDir

PATTERNS = [pattern.pattern for pattern, _unused in FATAL_LOG_PATTERNS]
# A stand-in driver that reports its phase and then works until it is stopped.
WORKER = '''
import json, sys, time
spec = json.load(open(sys.argv[1]))
json.dump({'phase': 'initialized'}, open(spec['status_path'], 'w'))
time.sleep(600)
'''


def _running(tmp_path):
    job = JobDir(str(tmp_path / 'job'))
    job.launch(sys.executable, WORKER, {})
    deadline = time.time() + 30
    while job.status_phase() is None and time.time() < deadline:
        time.sleep(0.05)
    return job


def _round_in_thread(job, seconds, timeout=900):
    """wait_round in a thread; (thread, answers): the thread has ended once the round returned."""
    answers = []
    thread = threading.Thread(target=lambda: answers.append(
        job_watch.wait_round(job.watch_paths(), seconds, timeout, PATTERNS)), daemon=True)
    thread.start()
    return thread, answers


def test_a_running_job_is_reported_with_its_phase_at_the_rounds_end(tmp_path):
    job = _running(tmp_path)
    try:
        answer = job_watch.wait_round(job.watch_paths(), 1, 900, PATTERNS)
        assert answer['collect'] is False and answer['phase'] == 'initialized', answer
        assert answer['duration'] > 0 and answer['started'] == os.path.getmtime(job.pidfile)
    finally:
        job.stop()


def test_a_result_ends_the_round_at_once(tmp_path):
    job = _running(tmp_path)
    try:
        thread, answers = _round_in_thread(job, 600)
        with open(job.result, 'w') as f:
            json.dump({'ok': True, 'result': 1}, f)
        thread.join(30)
        assert answers == [{'collect': True}]
    finally:
        job.stop()


def test_a_driver_that_exits_ends_the_round_at_once(tmp_path):
    job = _running(tmp_path)
    thread, answers = _round_in_thread(job, 600)
    job.stop()
    thread.join(30)
    assert answers == [{'collect': True}]


def test_the_jobs_timeout_ends_the_round(tmp_path):
    job = _running(tmp_path)
    try:
        # Started 100 s ago with a timeout of 50 s: the module must stop it now.
        os.utime(job.pidfile, (time.time() - 100, time.time() - 100))
        thread, answers = _round_in_thread(job, 600, timeout=50)
        thread.join(30)
        assert answers == [{'collect': True}]
    finally:
        job.stop()


def test_a_fatal_line_in_the_log_is_collected_at_the_rounds_end(tmp_path):
    job = _running(tmp_path)
    try:
        with open(job.log, 'a') as f:
            f.write("_pickle.UnpicklingError: global 'decimal.Decimal' is forbidden\n")
        assert job_watch.wait_round(job.watch_paths(), 1, 900, PATTERNS) == {'collect': True}
    finally:
        job.stop()


def test_no_job_is_left_to_the_module(tmp_path):
    job = JobDir(str(tmp_path / 'never-started'))
    assert job_watch.wait_round(job.watch_paths(), 600, 900, PATTERNS) == {'collect': True}


def test_it_runs_alone_as_the_action_runs_it(tmp_path):
    """python -c SOURCE ARGS, isolated from this checkout and from ansible: standard library only."""
    job = _running(tmp_path)
    try:
        payload = json.dumps({'paths': job.watch_paths(), 'seconds': 1, 'timeout': 900, 'fatal_patterns': PATTERNS})
        out = subprocess.run([sys.executable, '-I', '-c', inspect.getsource(job_watch), payload], cwd=str(tmp_path),
                             env={'PATH': os.environ.get('PATH', '/usr/bin')}, capture_output=True, text=True,
                             check=True).stdout
        answer = json.loads(out.strip().splitlines()[-1])
        assert answer['collect'] is False and answer['phase'] == 'initialized', out
    finally:
        job.stop()


def test_the_action_keeps_module_rounds_where_a_waiter_does_not_apply():
    """wait=0 (one round until the job ends), check mode, or the module's own defaults: no waiter,
    so no loop of rounds that return at once."""
    from types import SimpleNamespace

    from ansible_collections.sfdeploy.secretflow.plugins.action.sf_job import ActionModule

    action = object.__new__(ActionModule)
    # The module's interpreter, as the controller would find it for the host.
    action._configure_module = lambda **kw: (SimpleNamespace(shebang='#!/usr/bin/python3'), 'sf_job.py')
    full = {'workdir': '/var/tmp/sfdeploy-jobs', 'name': 'sfjob', 'timeout': 900, 'self_party': 'alice', 'wait': 10}
    action._task = SimpleNamespace(check_mode=False)
    assert callable(action._waiter(full, {}))
    assert action._waiter(dict(full, wait=0), {}) is None
    assert action._waiter({k: v for k, v in full.items() if k != 'timeout'}, {}) is None
    action._task = SimpleNamespace(check_mode=True)
    assert action._waiter(full, {}) is None
