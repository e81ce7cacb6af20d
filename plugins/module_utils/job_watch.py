# -*- coding: utf-8 -*-
# Copyright: sfdeploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One round of a production job's watch, without a module: wait on the host until there is
something to collect, or until the round ends.

The sf_job action plugin (state=watched) sends this file's source and runs it with the host's
Python (``python -c SOURCE ARGS``): a round costs a Python start with the standard library
only, where a module round costs AnsiballZ and ansible's module_utils (about 0.3 CPU-s a host,
measured; the parties' jobs share the same CPUs). When this says there is something to
collect (a result, a driver that exited, the timeout, a fatal line in the log), the action
runs the sf_job module, which collects and reports exactly as before.

Standard library only: it runs alone on the host. job_process (the module's side) imports its
file helpers from here, so both read a job's files the same way.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time

POLL_SECONDS = 0.5


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (IOError, OSError, ValueError):
        return None


def read_end(path, max_bytes):
    """The last max_bytes of a file as text ('' when it cannot be read)."""
    try:
        with open(path, 'rb') as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - max_bytes))
            return f.read().decode('utf-8', 'replace')
    except (IOError, OSError):
        return ''


def pid_alive(pid):
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie has exited; it only waits to be reaped.
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().split(')')[-1].split()[0] != 'Z'
    except (IOError, OSError):
        return True


def read_pid(path):
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (IOError, OSError, ValueError):
        return None


def wait_round(paths, seconds, timeout, fatal_patterns, max_log_bytes=1 << 20):
    """Wait up to ``seconds`` for the job whose files are ``paths`` (pid, result, status, log).

    {'collect': True} as soon as the module has something to report: the result exists, the
    driver is not running (or never started), the job's ``timeout`` (from its start, the pid
    file's time) has passed, or at the round's end a line of the log matches one of
    ``fatal_patterns`` (the module then ends the job). Otherwise, at the round's end,
    {'collect': False, 'phase': what the driver last reported, 'started', 'duration'} (as the
    module reports a job that still runs)."""
    try:
        started = os.path.getmtime(paths['pid'])
    except OSError:
        return {'collect': True}
    end = min(time.time() + seconds, started + timeout)
    pid = read_pid(paths['pid'])
    while True:
        if os.path.exists(paths['result']) or not pid_alive(pid):
            return {'collect': True}
        if time.time() >= end:
            break
        time.sleep(POLL_SECONDS)
    if time.time() >= started + timeout:
        return {'collect': True}
    text = read_end(paths['log'], max_log_bytes)
    if any(re.search(pattern, text) for pattern in fatal_patterns):
        return {'collect': True}
    return {'collect': False, 'phase': (read_json(paths['status']) or {}).get('phase') or 'starting',
            'started': started, 'duration': round(time.time() - started, 3)}


def main(argv):
    args = json.loads(argv[1])
    answer = wait_round(args['paths'], args['seconds'], args['timeout'], args['fatal_patterns'])
    # Run alone on the host by the sf_job action (not a module): its stdout is the answer.
    print(json.dumps(answer))  # pylint: disable=ansible-bad-function


if __name__ == '__main__':
    main(sys.argv)
