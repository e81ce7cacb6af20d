"""The python role's conda provider, run four times like community.crypto's integration tests:
check mode, real, check mode again, real again. A stand-in installer replaces Miniforge (none
can be downloaded here); the role's own logic - checksum, batch install, pinned environment,
idempotence - is what is tested."""
import hashlib
import os
import re
import subprocess

import pytest

from runner import ansible_playbook

HERE = os.path.dirname(os.path.abspath(__file__))
INSTALLER = os.path.join(HERE, 'files', 'fake-miniforge.sh')
SYSTEM_PYTHON = subprocess.check_output(
    ['/usr/bin/python3', '-c', 'import platform; print(platform.python_version())'], text=True).strip()


def play(prefix, *extra, sha=None, version=SYSTEM_PYTHON):
    sha = sha or hashlib.sha256(open(INSTALLER, 'rb').read()).hexdigest()
    args = [os.path.join(HERE, 'conda.yml'), '-i', 'localhost,',
            '-e', 'python_conda_installer_src=%s' % INSTALLER, '-e', 'python_conda_installer_sha256=%s' % sha,
            '-e', 'python_conda_prefix=%s' % prefix, '-e', 'python_conda_python_version=%s' % version] + list(extra)
    proc = ansible_playbook(*args)
    changed = re.search(r'localhost\s+: ok=\d+\s+changed=(\d+)', proc.stdout)
    return proc, int(changed.group(1)) if changed else None


@pytest.fixture
def prefix(tmp_path):
    return str(tmp_path / 'conda')


def test_check_real_check_real(prefix):
    proc, changed = play(prefix, '--check')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert changed > 0 and not os.path.exists(prefix)

    proc, changed = play(prefix)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert changed > 0
    env_python = os.path.join(prefix, 'envs', 'secretflow', 'bin', 'python')
    assert 'PYTHON=%s' % env_python in proc.stdout
    assert subprocess.check_output([env_python, '-c', 'import platform; print(platform.python_version())'],
                                   text=True).strip() == SYSTEM_PYTHON

    for extra in (['--check'], []):
        proc, changed = play(prefix, *extra)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert changed == 0, proc.stdout


def test_wrong_checksum_fails_and_installs_nothing(prefix):
    proc, _unused = play(prefix, sha='0' * 64)
    assert proc.returncode != 0
    assert 'does not match python_conda_installer_sha256' in proc.stdout
    assert not os.path.exists(prefix)


def test_missing_checksum_is_refused_before_anything(prefix):
    proc, _unused = play(prefix, sha='abc')
    assert proc.returncode != 0
    assert 'python_conda_installer_sha256 (64 hex digits)' in proc.stdout
    assert not os.path.exists(prefix)


def test_unavailable_python_version_fails_clearly(prefix):
    proc, _unused = play(prefix, version='3.9.1')
    assert proc.returncode != 0
    assert 'PackagesNotFoundError: python=3.9.1' in proc.stdout
