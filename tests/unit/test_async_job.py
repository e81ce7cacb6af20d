"""Reading a background task's job file on the host (plugins/module_utils/async_job.py), as
Ansible's async wrapper writes it: begun, ended with the module's result, or stopped at its limit."""
import json

import pytest

from ansible_collections.sfdeploy.secretflow.plugins.module_utils.async_job import ended, wait

BEGUN = {'started': True, 'finished': False, 'ansible_job_id': 'j1.2'}
RESULT = {'changed': True, 'rc': 0, 'invocation': {'module_args': {}}}
STOPPED = {'msg': 'Timeout exceeded', 'failed': True, 'child_pid': 42}


class Clock(object):
    """A clock that moves only when the wait sleeps; the job's file is written at given times
    (``ends_at`` with ``then``, and ``appears_at`` with BEGUN)."""

    def __init__(self, path, ends_at=None, then=None, appears_at=None):
        self.now, self.path, self.sleeps = 100.0, path, []
        self.writes = sorted([(at, data) for at, data in ((appears_at, BEGUN), (ends_at, then or RESULT))
                              if at is not None], key=lambda write: write[0])

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds
        while self.writes and self.now - 100.0 >= self.writes[0][0]:
            self.path.write_text(json.dumps(self.writes.pop(0)[1]))


@pytest.mark.parametrize('data, has_ended', [(BEGUN, False), (RESULT, True), (STOPPED, True)])
def test_a_job_has_ended_when_its_file_no_longer_says_started(tmp_path, data, has_ended):
    job = tmp_path / 'j1.2'
    job.write_text(json.dumps(data))
    assert ended(str(job)) is has_ended


def test_a_job_is_waited_for_until_its_result_is_written(tmp_path):
    job = tmp_path / 'j1.2'
    job.write_text(json.dumps(BEGUN))
    clock = Clock(job, ends_at=3.0)
    assert wait(str(job), 60, 0.5, clock=clock, sleep=clock.sleep) is True
    assert clock.now - 100.0 == 3.0 and clock.sleeps == [0.5] * 6


def test_a_job_stopped_at_its_limit_has_ended_too(tmp_path):
    job = tmp_path / 'j1.2'
    job.write_text(json.dumps(BEGUN))
    clock = Clock(job, ends_at=1.0, then=STOPPED)
    assert wait(str(job), 60, 0.5, clock=clock, sleep=clock.sleep) is True


def test_a_job_still_running_at_the_timeout_is_reported_as_not_ended(tmp_path):
    job = tmp_path / 'j1.2'
    job.write_text(json.dumps(BEGUN))
    clock = Clock(job)
    assert wait(str(job), 2.2, 0.5, clock=clock, sleep=clock.sleep) is False
    # The last sleep is cut at the timeout, not a whole interval beyond it.
    assert clock.now - 100.0 == pytest.approx(2.2) and clock.sleeps[-1] == pytest.approx(0.2)


def test_a_job_whose_file_comes_late_is_waited_for(tmp_path):
    # Ansible's wrapper reports a job started after 2.5 s even if the job has not written its
    # file yet (a loaded host): the wait does not take the missing file for an unknown job.
    job = tmp_path / 'j1.2'
    clock = Clock(job, appears_at=4.0, ends_at=6.0)
    assert wait(str(job), 60, 0.5, clock=clock, sleep=clock.sleep) is True
    assert clock.now - 100.0 == 6.0


def test_no_such_job_is_an_error_once_its_file_had_time_to_appear(tmp_path):
    clock = Clock(tmp_path / 'nojob')
    with pytest.raises(FileNotFoundError):
        wait(str(tmp_path / 'nojob'), 60, 0.5, appear=3.0, clock=clock, sleep=clock.sleep)
    assert clock.now - 100.0 == 3.0
    # Without a grace, at once.
    clock = Clock(tmp_path / 'nojob')
    with pytest.raises(FileNotFoundError):
        wait(str(tmp_path / 'nojob'), 60, 0.5, appear=0, clock=clock, sleep=clock.sleep)
    assert clock.sleeps == []


def test_a_wait_shorter_than_the_grace_ends_as_not_ended(tmp_path):
    # One run of the module (the action plugin's next run gets the grace that is left).
    clock = Clock(tmp_path / 'nojob')
    assert wait(str(tmp_path / 'nojob'), 2, 0.5, appear=30, clock=clock, sleep=clock.sleep) is False
    assert clock.now - 100.0 == 2.0
