#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sfdeploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: sf_async_wait
short_description: Wait on the host for a background task to end, then collect it as async_status does
version_added: "0.2.0"
description:
  - For a task started with C(async) and C(poll=0). Waits on the managed host until the task's job has ended,
    reading its job file there every I(interval) seconds, then returns the job's result exactly as
    C(ansible.builtin.async_status) does (the action plugin runs that module once to collect it).
  - A module run every I(poll) seconds at most, and one to collect, where an C(async_status) task with C(until)
    and C(retries) runs a module and a round trip from the controller every C(delay) - on the same CPUs as the
    job being waited for.
  - Fails when there is no such job (like C(async_status); its file has not appeared within I(appear) seconds),
    when the job failed (with its result), or when the job has not ended within I(timeout) seconds
    (C(finished) false; the job goes on).
author:
  - sfdeploy contributors (@sfdeploy)
options:
  jid:
    description: The job's id (C(ansible_job_id) of the registered background task).
    type: str
    required: true
  timeout:
    description: Seconds to wait for the job to end.
    type: int
    required: true
  interval:
    description: Seconds between two reads of the job's file on the host.
    type: float
    default: 0.5
  poll:
    description:
      - Seconds one wait on the host lasts at most; the action plugin starts another until I(timeout). The
        connection is never silent for longer (a stateful firewall may drop a connection idle for minutes).
    type: int
    default: 60
  appear:
    description:
      - Seconds the job's file may still be missing before the job counts as unknown (the action plugin
        counts them from the wait's start, across its runs; at most I(timeout)). Ansible's async wrapper
        reports a job as started after 2.5 s at most, even if the job has not written its file yet, as
        on a loaded host.
    type: float
    default: 30
  async_dir:
    description:
      - Where Ansible keeps the jobs' files on the host. The action plugin sets it from the connection's shell
        option C(async_dir), as C(async_status) finds it.
    type: path
    default: ~/.ansible_async
attributes:
  action:
    description: An action plugin on the controller runs this module, then C(async_status).
    support: full
  check_mode:
    description: Can run in check mode and report what it would change without changing it.
    support: full
  diff_mode:
    description: Reports what it changes (or would change in check mode) with --diff.
    support: none
seealso:
  - module: ansible.builtin.async_status
'''

EXAMPLES = r'''
- name: Install in the background
  sfdeploy.secretflow.sf_python_packages:
    python: /opt/venv/bin/python
    packages: [secretflow==1.14.0b0]
  async: 3600
  poll: 0
  register: install

- name: Wait for the install to end
  sfdeploy.secretflow.sf_async_wait:
    jid: "{{ install.ansible_job_id }}"
    timeout: 3600
'''

RETURN = r'''
finished:
  description: Whether the job has ended (false after I(timeout)).
  returned: always
  type: bool
waited:
  description: Seconds waited on the host.
  returned: always
  type: float
wait_runs:
  description: How many waits on the host (module runs) it took, at most one every I(poll) seconds.
  returned: always
  type: int
'''

import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.sfdeploy.secretflow.plugins.module_utils.async_job import ARGUMENT_SPEC, wait


def main():
    module = AnsibleModule(
        argument_spec=dict(ARGUMENT_SPEC, async_dir=dict(type='path', default='~/.ansible_async')),
        supports_check_mode=True,
    )
    jid = module.params['jid']
    path = os.path.join(module.params['async_dir'], jid)
    began = time.monotonic()
    try:
        finished = wait(path, module.params['timeout'], max(module.params['interval'], 0.05), module.params['appear'])
    except FileNotFoundError:
        module.fail_json(msg='could not find job %s (no file %s after %s s)' % (jid, path, module.params['appear']),
                         ansible_job_id=jid, started=True, finished=True, waited=round(time.monotonic() - began, 1))
    except OSError as e:
        module.fail_json(msg='could not find job %s (%s)' % (jid, e), ansible_job_id=jid, started=True, finished=True)
    module.exit_json(changed=False, finished=finished, waited=round(time.monotonic() - began, 1), ansible_job_id=jid)


if __name__ == '__main__':
    main()
