"""The job driver's life cycle: result, failure, timeout ends the whole process session."""
import json
import os
import sys
import time

from ansible_collections.sfdeploy.secretflow.plugins.module_utils import job_process
from ansible_collections.sfdeploy.secretflow.plugins.module_utils.job_process import JobDir, log_tail, pid_alive

# A stand-in driver: the real runner needs SecretFlow, the life cycle does not.
SLEEPER = '''
import json, os, subprocess, sys, time
spec = json.load(open(sys.argv[1]))
child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])
open(os.path.join(os.path.dirname(sys.argv[1]), 'child.pid'), 'w').write(str(child.pid))
print('working', flush=True)
if spec.get('answer') is not None:
    json.dump({'ok': True, 'result': spec['answer'], 'finished': time.time()}, open(spec['result_path'], 'w'))
    child.kill()
    sys.exit(0)
time.sleep(600)
'''


def test_result_is_collected(tmp_path):
    job = JobDir(str(tmp_path / 'job'))
    job.launch(sys.executable, SLEEPER, {'answer': {'total': 3}})
    result, reason = job.wait(time.time() + 30)
    assert reason is None and result['result'] == {'total': 3}
    assert 'working' in log_tail(job.log)


def test_timeout_ends_the_driver_and_its_children(tmp_path):
    job = JobDir(str(tmp_path / 'job'))
    job.launch(sys.executable, SLEEPER, {'answer': None})
    # The driver has started its child once it wrote the child's pid (readiness, not a timing).
    child_pid = os.path.join(job.path, 'child.pid')
    deadline = time.time() + 30
    while not (os.path.exists(child_pid) and open(child_pid).read().strip()) and time.time() < deadline:
        time.sleep(0.05)
    child = int(open(child_pid).read())
    result, reason = job.wait(time.time() + 1)
    assert result is None and reason == 'timed out'
    deadline = time.time() + 5
    while pid_alive(child) and time.time() < deadline:
        time.sleep(0.1)
    assert not pid_alive(job.pid()) and not pid_alive(child)


def test_wait_can_return_early_with_the_job_still_running(tmp_path):
    job = JobDir(str(tmp_path / 'job'))
    job.launch(sys.executable, SLEEPER, {'answer': None})
    result, reason = job.wait(time.time() + 0.5, stop_at_deadline=False)
    assert reason == 'still running' and job.running()
    assert job.stop() and not job.running()


def test_a_crashed_driver_is_reported(tmp_path):
    job = JobDir(str(tmp_path / 'job'))
    job.launch(sys.executable, 'import sys; sys.exit(3)', {})
    result, reason = job.wait(time.time() + 30)
    assert result is None and reason == 'the job process exited without a result'


def test_the_driver_writes_its_bytecode_whatever_the_launching_shell_said(tmp_path, monkeypatch):
    """A PYTHONDONTWRITEBYTECODE inherited from the controller's shell (local connection) does not
    reach the driver, which would compile SecretFlow again in every job; the job's env may set it."""
    monkeypatch.setenv('PYTHONDONTWRITEBYTECODE', '1')
    shows = ('import json, os, sys; spec = json.load(open(sys.argv[1])); '
             'json.dump({"ok": True, "result": [sys.dont_write_bytecode, os.environ.get("PYTHONDONTWRITEBYTECODE")]}, '
             'open(spec["result_path"], "w"))')
    for env, seen in (({}, [False, None]), ({'PYTHONDONTWRITEBYTECODE': 'x'}, [True, 'x'])):
        job = JobDir(str(tmp_path / ('job%d' % len(env))))
        job.launch(sys.executable, shows, {}, env=env)
        result, reason = job.wait(time.time() + 30)
        assert reason is None and result['result'] == seen, (env, result)


def test_spec_carries_result_and_status_paths(tmp_path):
    job = JobDir(str(tmp_path / 'job'))
    job.launch(sys.executable, 'pass', {'x': 1})
    spec = json.load(open(job.spec))
    assert spec['result_path'] == job.result and spec['status_path'] == job.status and spec['x'] == 1


def test_a_refused_class_in_the_log_is_a_fatal_error(tmp_path):
    from ansible_collections.sfdeploy.secretflow.plugins.module_utils.job_process import fatal_error
    log = tmp_path / 'job.log'
    log.write_text('starting\n(ReceiverProxyActor pid=1) pickle.UnpicklingError: global \'decimal.Decimal\' is forbidden\n')
    assert 'class decimal.Decimal, which is outside the deserialization allowlist' in fatal_error(str(log))
    log.write_text('starting\nall fine\n')
    assert fatal_error(str(log)) is None


def test_an_agreed_start_time_is_kept_only_when_it_is_close_ahead():
    from ansible_collections.sfdeploy.secretflow.plugins.module_utils.job_process import planned_start
    assert planned_start(1000.0 + 2, now=1000.0) == 1002.0
    assert planned_start(None, now=1000.0) == 1000.0
    assert planned_start(999.0, now=1000.0) == 1000.0          # already past: now
    assert planned_start(1000.0 + 110, now=1000.0) == 1110.0   # 22 batches of forks at 5 s
    assert planned_start(1000.0 + 600, now=1000.0) == 1000.0   # another clock: not held back


# A stand-in container engine: `ENGINE exec --workdir DIR --env K=V... NAME CMD...` runs CMD in
# DIR with only the --env variables (a container does not inherit the caller's environment) and,
# as a container's process, in a session of its own - not in the exec command's process group.
FAKE_ENGINE = '''#!%s
import os, subprocess, sys
args = sys.argv[1:]
assert args[0] == 'exec', args
i, env, cwd = 1, {'PATH': os.environ['PATH']}, None
while args[i].startswith('--'):
    if args[i] == '--workdir':
        cwd = args[i + 1]
    else:
        key, value = args[i + 1].split('=', 1)
        env[key] = value
    i += 2
open(os.path.join(cwd, 'container.name'), 'w').write(args[i])
sys.exit(subprocess.Popen(args[i + 1:], cwd=cwd, env=env, start_new_session=True).wait())
''' % sys.executable

# Records what the driver saw, says where it runs (status.json, as the real runner does), then
# answers or sleeps.
CONTAINED = '''
import json, os, sys, time
spec = json.load(open(sys.argv[1]))
json.dump({'phase': 'starting', 'pid': os.getpid()}, open(spec['status_path'], 'w'))
json.dump({k: os.environ.get(k) for k in ('PYTHONUNBUFFERED', 'JOB_SETTING', 'SFDEPLOY_HOST_ONLY')},
          open('seen.json', 'w'))
if spec.get('answer') is not None:
    json.dump({'ok': True, 'result': spec['answer'], 'finished': time.time()}, open(spec['result_path'], 'w'))
    sys.exit(0)
time.sleep(600)
'''


def _engine(tmp_path):
    engine = tmp_path / 'engine'
    engine.write_text(FAKE_ENGINE)
    engine.chmod(0o755)
    return str(engine)


def test_a_driver_in_a_container_gets_only_the_jobs_environment_and_its_result_is_collected(tmp_path, monkeypatch):
    monkeypatch.setenv('SFDEPLOY_HOST_ONLY', 'host')
    job = JobDir(str(tmp_path / 'job'))
    job.launch(sys.executable, CONTAINED, {'answer': {'total': 3}}, env={'JOB_SETTING': 'x'},
               container=(_engine(tmp_path), 'sfdeploy-ray-h1'))
    result, reason = job.wait(time.time() + 30)
    assert reason is None and result['result'] == {'total': 3}
    assert open(os.path.join(job.path, 'container.name')).read() == 'sfdeploy-ray-h1'
    seen = json.load(open(os.path.join(job.path, 'seen.json')))
    assert seen == {'PYTHONUNBUFFERED': '1', 'JOB_SETTING': 'x', 'SFDEPLOY_HOST_ONLY': None}


def test_stopping_a_job_in_a_container_ends_the_driver_not_only_the_exec_command(tmp_path):
    job = JobDir(str(tmp_path / 'job'))
    job.launch(sys.executable, CONTAINED, {'answer': None}, container=(_engine(tmp_path), 'sfdeploy-ray-h1'))
    deadline = time.time() + 30
    while not job.status_phase() and time.time() < deadline:
        time.sleep(0.05)
    driver = json.load(open(job.status))['pid']
    assert driver != job.pid() and pid_alive(driver)
    assert job.stop()
    deadline = time.time() + 5
    while pid_alive(driver) and time.time() < deadline:
        time.sleep(0.1)
    assert not pid_alive(driver) and not job.running()


def test_a_pid_file_naming_another_process_is_not_a_running_job(tmp_path):
    """An ended job's pid file may name a pid the system has given to another process since:
    the job is running only while that pid is its own runner (as a later module run reads it)."""
    job = JobDir(str(tmp_path / 'job'))
    job.launch(sys.executable, SLEEPER, {})
    own = None
    try:
        deadline = time.time() + 30
        while 'working' not in log_tail(job.log) and time.time() < deadline:  # the runner has started
            time.sleep(0.1)
        later = JobDir(job.path)
        assert later.running()
        with open(job.pidfile) as f:
            own = f.read()
        with open(job.pidfile, 'w') as f:
            f.write(str(os.getpid()))  # alive, but this test's own process
        assert pid_alive(os.getpid()) and not later.running()
    finally:
        # The runner's own pid file back, so that stop() ends it (it was left running before).
        if own is not None:
            with open(job.pidfile, 'w') as f:
                f.write(own)
        job.stop()


def test_a_job_is_running_from_the_moment_it_is_launched(tmp_path):
    """Right after the launch the kernel may not have given the new process its arguments yet
    (a readme-setup run failed so: "the job process exited without a result" after 12 ms): the
    launching process knows its child, and a later run that cannot read the arguments keeps the
    safe answer."""
    for attempt in range(40):
        job = JobDir(str(tmp_path / ('job%d' % attempt)))
        job.launch(sys.executable, SLEEPER, {})
        try:
            assert job.running(), attempt
        finally:
            job.stop()
    job = JobDir(str(tmp_path / 'job'))
    job.launch(sys.executable, SLEEPER, {})
    try:
        later = JobDir(job.path)
        original = job_process.command_line
        job_process.command_line = lambda pid: []
        try:
            assert later.running()
        finally:
            job_process.command_line = original
    finally:
        job.stop()
