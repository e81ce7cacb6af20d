"""The job runner before sf.init: a party whose Ray head does not listen fails in seconds, naming
the address, instead of in ray.init's 140 s and a ConnectionError without a message."""
import socket

from ansible_collections.sfdeploy.secretflow.plugins.module_utils import job_runner


def test_a_ray_head_that_does_not_listen_is_found_in_seconds_not_minutes():
    with socket.socket() as listener:
        listener.bind(('127.0.0.1', 0))
        listener.listen(1)
        assert job_runner.ray_head_unanswered('127.0.0.1:%d' % listener.getsockname()[1], seconds=1) is None
        closed = listener.getsockname()[1]
    error = job_runner.ray_head_unanswered('127.0.0.1:%d' % closed, seconds=0.5)
    assert isinstance(error, ConnectionRefusedError), error


def test_the_runner_names_the_head_before_it_imports_secretflow(tmp_path, monkeypatch):
    """No SecretFlow in this environment: the error comes from the head check, before the import."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        closed = s.getsockname()[1]
    spec = {'self_party': 'bob', 'status_path': str(tmp_path / 'status.json'), 'script': str(tmp_path / 'job.py'),
            'mode': 'production', 'init': {'address': '127.0.0.1:%d' % closed}}
    monkeypatch.setattr(job_runner, 'RAY_HEAD_WAIT_SECONDS', 0.5)
    try:
        job_runner.run(spec)
    except RuntimeError as exc:
        assert 'the Ray head at 127.0.0.1:%d does not answer' % closed in str(exc), exc
    else:
        raise AssertionError('no error')
