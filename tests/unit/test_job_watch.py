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


def _answers_of_a_long_round(job, event, timeout=900):
    """A 600 s round in a thread, then ``event`` (what should end it); the round's answers once
    it returned, or [] if it still waits 30 s later."""
    answers = []
    thread = threading.Thread(target=lambda: answers.append(
        job_watch.wait_round(job.watch_paths(), 600, timeout, PATTERNS)), daemon=True)
    thread.start()
    event()
    thread.join(30)
    return answers


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

    def result():
        with open(job.result, 'w') as f:
            json.dump({'ok': True, 'result': 1}, f)
    try:
        assert _answers_of_a_long_round(job, result) == [{'collect': True}]
    finally:
        job.stop()


def test_a_driver_that_exits_ends_the_round_at_once(tmp_path):
    job = _running(tmp_path)
    assert _answers_of_a_long_round(job, job.stop) == [{'collect': True}]


def test_the_jobs_timeout_ends_the_round(tmp_path):
    job = _running(tmp_path)
    try:
        # Started 100 s ago with a timeout of 50 s: the module must stop it now.
        os.utime(job.pidfile, (time.time() - 100, time.time() - 100))
        assert _answers_of_a_long_round(job, lambda: None, timeout=50) == [{'collect': True}]
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


FULL = {'workdir': '/var/tmp/sfdeploy-jobs', 'name': 'sfjob', 'timeout': 900, 'self_party': 'alice', 'wait': 10}


def _action(check_mode=False):
    """The sf_job action with the module's interpreter as the controller would find it for the host."""
    from types import SimpleNamespace

    from ansible_collections.sfdeploy.secretflow.plugins.action.sf_job import ActionModule

    action = object.__new__(ActionModule)
    action._configure_module = lambda **kw: (SimpleNamespace(shebang='#!/usr/bin/python3'), 'sf_job.py')
    action._task = SimpleNamespace(check_mode=check_mode)
    return action


def test_the_action_keeps_module_rounds_where_a_waiter_does_not_apply():
    """wait=0 (one round until the job ends), check mode, or the module's own defaults: no waiter,
    so no loop of rounds that return at once."""
    action = _action()
    assert callable(action._waiter(FULL, {}))
    assert action._waiter(dict(FULL, wait=0), {}) is None
    assert action._waiter({k: v for k, v in FULL.items() if k != 'timeout'}, {}) is None
    assert _action(check_mode=True)._waiter(FULL, {}) is None


def test_a_host_that_does_not_answer_as_the_waiter_gets_module_rounds(tmp_path):
    """A round whose output is not the waiter's (no such Python on the host): the watch goes on with
    the module's own rounds, with the task's full wait."""
    action = _action()
    action._low_level_execute_command = lambda cmd, sudoable=True: {'rc': 127, 'stdout': 'sh: 1: python3: not found'}
    waits = []

    def module(module_name, module_args, task_vars):
        waits.append(module_args['wait'])
        return {'finished': True, 'rc': 0, 'result': 1}
    action._execute_module = module
    res = action._watch(dict(FULL, mode='production', watch_dir=str(tmp_path)), {})
    assert res['result'] == 1 and waits == [10]
    assert json.load(open(str(tmp_path / 'alice.json')))['state'] == 'finished'
