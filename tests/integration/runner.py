"""Runs the collection's playbooks on this machine, the way the integration tests all do."""
import os
import re
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def ansible_playbook(*args):
    """ansible-playbook ARGS from the checkout, with its ansible.cfg; a CompletedProcess."""
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), ANSIBLE_NOCOLOR='1')
    return subprocess.run(['ansible-playbook'] + [str(a) for a in args], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=False)


def changed_counts(output):
    return [int(n) for n in re.findall(r'changed=(\d+)', output)]
