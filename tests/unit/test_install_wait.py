"""The secretflow role's wait (tasks/wait.yml) collects a background install only: an install
that ran in the foreground (secretflow_install_background false, e.g. -e on production.yml)
is already collected, and Ansible has removed its job file ("could not find job")."""
import os

import pytest
import yaml
from ansible.template import Templar, trust_as_template

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _condition():
    with open(os.path.join(ROOT, 'roles', 'secretflow', 'tasks', 'wait.yml')) as f:
        return yaml.safe_load(f)[0]['when']


def _waits(condition, install):
    return Templar(loader=None, variables={'__secretflow_install': install}).evaluate_conditional(
        trust_as_template(condition))


# What `register` holds after the install task (sf_python_packages with async) in each case.
STARTED = {'ansible_job_id': 'j1.2', 'started': True, 'finished': False, 'results_file': '/root/.ansible_async/j1.2'}
FOREGROUND = {'ansible_job_id': 'j1.2', 'started': True, 'finished': True, 'changed': True, 'drift': []}
SKIPPED = {'skipped': True, 'changed': False}


@pytest.mark.parametrize('install, waits', [(STARTED, True), (FOREGROUND, False), (SKIPPED, False)])
def test_only_an_install_still_running_is_waited_for(install, waits):
    assert _waits(_condition(), install) is waits


def test_the_condition_before_the_fix_would_wait_for_a_foreground_install():
    """Negative control: the condition on `started` alone waited for a finished install."""
    old = '__secretflow_install.ansible_job_id is defined and __secretflow_install.started | default(0) | bool'
    assert _waits(old, FOREGROUND) is True
