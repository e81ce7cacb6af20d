"""Helpers shared by the scenarios' testinfra tests: hosts of the molecule inventory, and the
collection's playbooks run against it the way a user runs them."""
import json
import os
import re
import subprocess
import sys
import time

import testinfra

# The inventory directory, as molecule passes it to ansible-playbook: its generated file and the
# scenario's extra hosts (inventory hosts that are a second name of a container) together.
INVENTORY = os.path.dirname(os.environ['MOLECULE_INVENTORY_FILE'])
ROOT = os.environ.get('MOLECULE_PROJECT_DIRECTORY', os.getcwd())


def host(name):
    return testinfra.get_host('ansible://%s?ansible_inventory=%s' % (name, INVENTORY))


def ansible_args(argv):
    """subprocess arguments for an Ansible command on the test bed, its output plain text."""
    # molecule exports ANSIBLE_FORCE_COLOR for its own runs: plain text here, to be parsed.
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, '.collections'), ANSIBLE_NOCOLOR='1',
               ANSIBLE_FORCE_COLOR='0', ANSIBLE_HOST_KEY_CHECKING='False', ANSIBLE_CALLBACK_RESULT_FORMAT='yaml')
    env.pop('PY_COLORS', None)
    # The scenario's converge profiles its tasks (molecule.yml); the tests parse plain output.
    env.pop('ANSIBLE_CALLBACKS_ENABLED', None)
    return dict(args=argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)


def playbook_args(path, *extra, inventory=None):
    """subprocess arguments for ansible-playbook PATH (relative to the checkout) on the test bed
    (or on another inventory)."""
    return ansible_args(['ansible-playbook', '-i', inventory or INVENTORY, os.path.join(ROOT, path)] + list(extra))


def playbook(path, *extra, inventory=None):
    """Run a playbook to its end (on the test bed, or on another inventory); the CompletedProcess
    has the whole output in stdout."""
    return subprocess.run(**playbook_args(path, *extra, inventory=inventory), check=False)


def playbooks_together(runs, timeout=1200, inventory=None):
    """Start several playbook runs at once and wait for all of them. runs: key -> (path, *extra);
    returns key -> CompletedProcess, each with its whole output in stdout."""
    procs = dict((key, subprocess.Popen(**playbook_args(*args, inventory=inventory))) for key, args in runs.items())
    done = {}
    for key, proc in procs.items():
        out = proc.communicate(timeout=timeout)[0]
        done[key] = subprocess.CompletedProcess(proc.args, proc.returncode, out)
    return done


def run_module(pattern, name, args):
    """Run a module of the collection on the test bed's hosts matching ``pattern`` (``ansible -m``),
    with ``args`` (a dict), as root; the CompletedProcess has the whole output in stdout."""
    return subprocess.run(**ansible_args(['ansible', '-i', INVENTORY, pattern, '--become', '-m', name,
                                          '-a', json.dumps(args)]), check=False)


def changed_counts(output):
    return [int(n) for n in re.findall(r'changed=(\d+)', output)]


def task_blocks(output, name=None):
    """Each run of a task in a playbook's output, in order, as (title, what it printed): the title
    as printed (with its role's prefix), the text from its TASK line to the next TASK, PLAY or
    recap line. Only the runs of the task called ``name`` (with or without the prefix) if given."""
    blocks = []
    for part in re.split(r'^(?=TASK \[|PLAY)', output, flags=re.M):
        title = re.match(r'TASK \[([^\]]*)\][^\n]*\n?', part)
        if title and (name is None or title.group(1) == name or title.group(1).endswith(' : ' + name)):
            blocks.append((title.group(1), part[title.end():]))
    return blocks


def changed_tasks(output):
    """Every 'TASK name: host' that reported a change in a playbook's output."""
    return ['%s: %s' % (title, h) for title, text in task_blocks(output)
            for h in re.findall(r'^changed: \[([^\]]+)\]', text, re.M)]


def a_second_run_changes_nothing(path, *extra, inventory=None):
    """A playbook run again on the hosts it converged reports changed=0 on every host (the changed
    tasks named otherwise). Each scenario's first test is molecule's idempotence step so: the
    converge's playbook again. Without the job, which is a run and not a state (each scenario's
    job tests check that a run of the job alone changes nothing either): that keeps the suite from
    running one more job per scenario. Returns the run (its output in stdout)."""
    proc = playbook(path, '--skip-tags', 'job', *extra, inventory=inventory)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert changed_counts(proc.stdout) and set(changed_counts(proc.stdout)) == {0}, changed_tasks(proc.stdout)
    return proc


def task_output(output, name):
    """What every run of the task called ``name`` printed (task_blocks), as one text."""
    return '\n'.join(text for _title, text in task_blocks(output, name))


def status(*extra):
    return playbook('playbooks/status.yml', *extra)


def wait_until_healthy(attempts=30, pause=10):
    """Readiness wait (not a timing assertion): status.yml until every party is healthy."""
    proc = None
    for _attempt in range(attempts):
        proc = status('-e', 'status_fail_unhealthy=true', '-e', 'status_reach_timeout=5')
        if proc.returncode == 0:
            return proc
        time.sleep(pause)
    return proc


def listening(h):
    """Ports a test host listens on."""
    out = h.check_output("ss -Htln | awk '{print $4}'")
    return {int(line.rsplit(':', 1)[-1]) for line in out.split()}


# Runs on a test host: dial each address:port, print one line "address:port verdict" each.
# open: the handshake completed; refused: an RST (let through, nothing listening);
# dropped: no answer (the firewall dropped it).
KNOCK = r'''
import socket, sys, concurrent.futures as cf
def knock(t):
    a, p = t.rsplit(":", 1)
    s = socket.socket(); s.settimeout(3)
    try:
        s.connect((a, int(p))); return t + " open"
    except ConnectionRefusedError: return t + " refused"
    except socket.timeout: return t + " dropped"
    except OSError as e: return t + " error-%s" % e.errno
    finally: s.close()
with cf.ThreadPoolExecutor(64) as ex:
    print("\n".join(ex.map(knock, sys.argv[1:])))
'''


def knock_from_here(targets):
    """knock() from this machine (the controller, on the test network but in no party)."""
    out = subprocess.check_output([sys.executable, '-c', KNOCK] + list(targets), text=True)
    return dict(line.rsplit(' ', 1) for line in out.splitlines())


def knock(name, targets):
    out = host(name).check_output("python3 -c '%s' %s" % (KNOCK.replace("'", "'\"'\"'"), ' '.join(targets)))
    return dict(line.rsplit(' ', 1) for line in out.splitlines())
