# -*- coding: utf-8 -*-
# Copyright: sfdeploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start, watch and stop one job driver process on a host.

A job lives in its own directory:  spec.json, job_runner.py, job.log, status.json,
result.json, pid. The driver runs in a session of its own so that a timeout or a
failed peer ends it together with everything it started (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

from ansible_collections.sfdeploy.secretflow.plugins.module_utils.job_config import FATAL_LOG_PATTERNS
# The job's files are read the same way by the watch's rounds on the host (job_watch, run alone there).
from ansible_collections.sfdeploy.secretflow.plugins.module_utils.job_watch import pid_alive, read_end, read_json, read_pid

STOP_GRACE_SECONDS = 10
# A start time agreed among parties (start_at) is honoured only this far ahead: clocks of hosts
# that disagree by more must not hold a job back for long (the job role plans job_start_margin, 5 s,
# a batch of forks ahead, and refuses a plan beyond this: 24 batches fit, 24 heads with --forks 1).
MAX_START_DELAY_SECONDS = 120.0


def planned_start(start_at, now=None):
    """When a job launched now with ``start_at`` begins its work: at ``start_at`` when that is
    ahead by at most MAX_START_DELAY_SECONDS, else now."""
    now = time.time() if now is None else now
    if start_at and now < start_at <= now + MAX_START_DELAY_SECONDS:
        return float(start_at)
    return now


def log_tail(path, lines=40, max_bytes=65536):
    return read_end(path, max_bytes).splitlines()[-lines:]


def fatal_error(path, max_bytes=1 << 20):
    """The first fatal error in the job's log, as a sentence, or None."""
    data = read_end(path, max_bytes)
    for pattern, sentence in FATAL_LOG_PATTERNS:
        match = pattern.search(data)
        if match:
            return sentence % match.group(1)
    return None


def job_path(workdir, name, party=None):
    """A job's directory: workdir/name, or workdir/name-party for a production party's."""
    return os.path.join(workdir, name if not party else '%s-%s' % (name, party))


def command_line(pid):
    """The arguments of process ``pid`` (bytes), empty when unknown."""
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            return [arg for arg in f.read().split(b'\0') if arg]
    except (IOError, OSError):
        return []


class JobDir(object):
    def __init__(self, path):
        self.path = path
        self.spec = os.path.join(path, 'spec.json')
        self.runner = os.path.join(path, 'job_runner.py')
        self.log = os.path.join(path, 'job.log')
        self.status = os.path.join(path, 'status.json')
        self.result = os.path.join(path, 'result.json')
        self.pidfile = os.path.join(path, 'pid')
        self._proc = None  # the driver's Popen, when this process launched it

    def pid(self):
        return read_pid(self.pidfile)

    def watch_paths(self):
        """The files a watch round reads on the host (job_watch.wait_round)."""
        return {'pid': self.pidfile, 'result': self.result, 'status': self.status, 'log': self.log}

    def running(self):
        """The driver of this job runs. Started by this process: until it is reaped. Otherwise its
        pid is alive and is still this job's runner (a pid file left by an ended job may name a pid
        the system has since given to another process)."""
        if self._proc is not None:
            return self._proc.poll() is None
        pid = self.pid()
        if not pid_alive(pid):
            return False
        argv = command_line(pid)
        if not argv:
            # Cannot tell (unreadable, a kernel thread, or a process between exec and its new
            # arguments, which the kernel sets up after the exec's caller may already have
            # returned): keep the safe answer.
            return True
        return self.runner.encode('utf-8') in argv

    def status_phase(self):
        """The phase the runner last recorded in status.json (starting, initialized), or None."""
        return (read_json(self.status) or {}).get('phase')

    def launch(self, python, runner_source, spec, env=None, start_at=None, container=None):
        """Write the job's files and start its driver detached. Returns the start time: the driver
        waits until ``start_at`` (see planned_start) before it does anything, so that parties
        launched one after the other begin together. ``container`` (engine, name): the driver runs
        there (``engine exec``), where the job's directory is mounted at its own path."""
        os.makedirs(self.path, mode=0o700, exist_ok=True)
        for stale in (self.result, self.status, self.pidfile):
            if os.path.exists(stale):
                os.unlink(stale)
        started = planned_start(start_at)
        spec = dict(spec, result_path=self.result, status_path=self.status, start_at=started)
        with open(self.spec, 'w') as f:
            json.dump(spec, f, indent=2, sort_keys=True)
        with open(self.runner, 'w') as f:
            f.write(runner_source)
        job_env = {'RAY_USAGE_STATS_ENABLED': '0', 'PYTHONUNBUFFERED': '1'}
        job_env.update(env or {})
        argv = [python, self.runner, self.spec]
        full_env = dict(os.environ)
        # The driver's Python writes the bytecode of what it imports into the environment, once:
        # a PYTHONDONTWRITEBYTECODE of the shell that ran ansible-playbook (a local connection
        # passes it on) would have every job compile SecretFlow again (job_env may still set it).
        full_env.pop('PYTHONDONTWRITEBYTECODE', None)
        if container:
            engine, name = container
            argv = [engine, 'exec', '--workdir', self.path] + \
                [arg for key, value in sorted(job_env.items()) for arg in ('--env', '%s=%s' % (key, value))] + \
                [name] + argv
        else:
            full_env.update(job_env)
        with open(self.log, 'wb') as log:
            proc = subprocess.Popen(
                argv, cwd=self.path, env=full_env,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, close_fds=True)
        with open(self.pidfile, 'w') as f:
            f.write(str(proc.pid))
        # The pid file's time is the job's start (read back by a later collect).
        os.utime(self.pidfile, (started, started))
        self._proc = proc
        return started

    def _reap(self):
        if self._proc is not None:
            self._proc.poll()

    def stop(self):
        """End the driver's whole session. Returns True if something was running.

        A driver started in a container (``engine exec``) runs in a session of its own there, not
        under the exec command: its own pid (status.json; the node's container shares the host's
        pid namespace) is stopped too."""
        pid = self.pid()
        if not pid_alive(pid):
            return False
        driver = (read_json(self.status) or {}).get('pid')
        groups = [pid] + ([driver] if driver and driver != pid and pid_alive(driver) else [])
        for sig, wait in ((signal.SIGTERM, STOP_GRACE_SECONDS), (signal.SIGKILL, 5)):
            for group in groups:
                try:
                    os.killpg(group, sig)
                except (ProcessLookupError, PermissionError):
                    pass
            deadline = time.time() + wait
            while time.time() < deadline:
                self._reap()
                if not any(pid_alive(group) for group in groups):
                    return True
                time.sleep(0.2)
        return True

    def wait(self, deadline, stop_at_deadline=True, poll=0.5):
        """Wait for the result until ``deadline`` (epoch seconds).

        At the deadline the job is stopped ('timed out'), or left running ('still running')
        when ``stop_at_deadline`` is false. Returns (result dict or None, reason or None)."""
        while True:
            self._reap()
            result = read_json(self.result)
            if result is not None:
                # The runner writes its result last (or before a bounded shutdown); let it exit.
                end = time.time() + 35
                while self.running() and time.time() < end:
                    self._reap()
                    time.sleep(0.1)
                return result, None
            if not self.running():
                return None, 'the job process exited without a result'
            if time.time() >= deadline:
                if not stop_at_deadline:
                    return None, 'still running'
                self.stop()
                return None, 'timed out'
            time.sleep(poll)
