# -*- coding: utf-8 -*-
# Copyright: sfdeploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Waiting on the host for a task Ansible runs in the background (``async`` with ``poll: 0``).

Ansible's async wrapper writes the job's file, ``<async_dir>/<jid>``, as ``{"started": true, ...}``
when the job begins, and replaces it (written beside it, then renamed) with the module's result
when the job ends - or with a failure when the wrapper stopped it at its time limit.
``async_status`` reads that file once, so waiting with it is a loop of module runs, each a Python
start and Ansible's module code on the host (about 0.3 CPU-seconds) and a round trip from the
controller, taken from the very work being waited for. ``wait`` reads the file on the host until
the job has ended, in one module run (the ``sf_async_wait`` module and action plugin).
"""

from __future__ import annotations

import json
import time


def ended(path):
    """Whether the job whose file is ``path`` has ended. Raises FileNotFoundError when there is no
    such file (not written yet, no such job, or its file was removed)."""
    with open(path) as f:
        text = f.read()
    try:
        data = json.loads(text)
    except ValueError:
        # Never seen (the wrapper renames a complete file into place); read as not ended yet.
        return False
    return not (isinstance(data, dict) and 'started' in data)


# Ansible's async wrapper reports a job started once the job has written its file, or after 2.5 s
# whatever happened (its comment: "should be long enough for worst loaded environment in
# practice"); on a loaded host the file can come later. A missing file means "no such job" only
# after this long.
APPEAR_SECONDS = 30

# sf_async_wait's options, for its module and its action plugin (the module adds async_dir, which
# the action plugin sets from the connection).
ARGUMENT_SPEC = dict(
    jid=dict(type='str', required=True),
    timeout=dict(type='int', required=True),
    interval=dict(type='float', default=0.5),
    poll=dict(type='int', default=60),
    appear=dict(type='float', default=APPEAR_SECONDS),
)


def wait(path, timeout, interval=0.5, appear=APPEAR_SECONDS, clock=time.monotonic, sleep=time.sleep):
    """Read the job's file every ``interval`` seconds until the job has ended (True) or ``timeout``
    seconds have passed (False). A file still missing ``appear`` seconds after the start raises
    FileNotFoundError (at once with ``appear`` 0); another error reading it raises OSError at once."""
    began = clock()
    deadline = began + timeout
    while True:
        try:
            if ended(path):
                return True
        except FileNotFoundError:
            if clock() >= began + appear:
                raise
        if clock() >= deadline:
            return False
        sleep(min(interval, max(deadline - clock(), 0)))
