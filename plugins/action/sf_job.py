# -*- coding: utf-8 -*-
# Copyright: sfdeploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of sf_job: read the job script named by ``src`` and hand it over, and watch
a production job's parties (``state=watched``).

The script travels as module content, so users keep jobs next to their playbooks and
never copy them to each head by hand.

``state=watched`` runs on every party head at once (one task): each head's action collects its
own job in rounds of ``wait`` seconds and, between rounds, tells the other heads' actions through
files in ``watch_dir`` (a directory on the controller) whether its job still runs, finished or
failed. A head whose peer failed (or became unreachable) stops its own job at once. One task
header and one result per head, however long the job runs.

A round waits on the host without a module (module_utils/job_watch.py, run with the host's
Python and the standard library only); the sf_job module runs only when there is something to
collect. The parties' jobs share their CPUs with the watch, and a module round costs about
0.3 CPU-s a host (AnsiballZ), which slowed the job itself (measured in scripts/bench.sh).
"""

from __future__ import annotations

import inspect
import json
import os
import shlex
import time

from ansible.errors import AnsibleActionFail, AnsibleConnectionFailure
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase
from ansible_collections.sfdeploy.secretflow.plugins.module_utils import job_watch
from ansible_collections.sfdeploy.secretflow.plugins.module_utils.job_config import FATAL_LOG_PATTERNS
from ansible_collections.sfdeploy.secretflow.plugins.module_utils.job_process import JobDir, job_path


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = None

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        src = args.pop('src', None)
        if src is not None:
            if args.get('script') or args.get('content') is not None:
                raise AnsibleActionFail('sf_job: src, script and content are mutually exclusive')
            path = self._find_script(src)
            with open(path, 'rb') as f:
                args['content'] = to_text(f.read(), errors='surrogate_or_strict')
        if args.get('state') == 'watched':
            result.update(self._watch(args, task_vars))
            return result
        args.pop('watch_dir', None)
        result.update(self._execute_module(module_name='sfdeploy.secretflow.sf_job', module_args=args,
                                           task_vars=task_vars))
        return result

    def _watch(self, args, task_vars):
        watch_dir = args.pop('watch_dir', None)
        party = args.get('self_party')
        if not watch_dir or not party:
            raise AnsibleActionFail('sf_job: state=watched needs watch_dir and self_party')
        collect = dict(args, state='finished')
        collect.setdefault('wait', 10)
        waiter = self._waiter(collect, task_vars)
        while True:
            try:
                res = waiter() if waiter else None
            except AnsibleConnectionFailure as exc:
                _tell(watch_dir, party, 'failed', 'unreachable: %s' % exc)
                raise
            except _WaiterUnusable:
                waiter, res = None, None
            if res is None:  # the module's round: at once when the waiter found something to collect
                try:
                    res = self._execute_module(module_name='sfdeploy.secretflow.sf_job',
                                               module_args=dict(collect, wait=1) if waiter else collect,
                                               task_vars=task_vars)
                except AnsibleConnectionFailure as exc:
                    _tell(watch_dir, party, 'failed', 'unreachable: %s' % exc)
                    raise
            if res.get('unreachable'):
                _tell(watch_dir, party, 'failed', 'unreachable: %s' % res.get('msg', ''))
                return res
            if res.get('failed') or res.get('error'):
                _tell(watch_dir, party, 'failed', res.get('error') or res.get('msg'))
                return res
            if res.get('finished'):
                _tell(watch_dir, party, 'finished')
                return res
            _tell(watch_dir, party, 'running', res.get('phase'))
            failed = _failed_peers(watch_dir, party)
            if failed:
                stop = dict(args, state='stopped')
                for key in ('wait', 'timeout'):
                    stop.pop(key, None)
                self._execute_module(module_name='sfdeploy.secretflow.sf_job', module_args=stop,
                                     task_vars=task_vars)
                res.update(finished=True, stopped_after_failure_of=failed, changed=True)
                return res

    def _waiter(self, collect, task_vars):
        """A function that runs one round on the host without a module (job_watch.wait_round) and
        returns what the module would while the job still runs (phase, started, duration), None
        when there is something to collect.
        None (module rounds only) in check mode, with wait=0, when the task leaves workdir, name or
        timeout to the module's defaults, or when the module's interpreter is unknown;
        a round whose output is not the waiter's raises _WaiterUnusable (module rounds from then on)."""
        if self._task.check_mode or not all(collect.get(key) for key in ('workdir', 'name', 'timeout')):
            return None  # the module's defaults apply: its own rounds
        if int(collect['wait']) <= 0:
            return None  # wait=0: one module round until the job ends
        try:
            built, _path = self._configure_module(module_name='sfdeploy.secretflow.sf_job', module_args=collect,
                                                  task_vars=task_vars)
            interpreter = shlex.split(built.shebang[2:])
        except Exception:  # pylint: disable=broad-except  # the module rounds work without it
            return None
        job = JobDir(job_path(collect['workdir'], collect['name'], collect['self_party']))
        payload = json.dumps({'paths': job.watch_paths(), 'seconds': int(collect['wait']),
                              'timeout': int(collect['timeout']),
                              'fatal_patterns': [pattern.pattern for pattern, _unused in FATAL_LOG_PATTERNS]})
        cmd = ' '.join(shlex.quote(arg) for arg in interpreter + ['-c', WATCH_SOURCE, payload])

        def round_():
            res = self._low_level_execute_command(cmd, sudoable=True)
            try:
                answer = json.loads(res['stdout'].strip().splitlines()[-1])
                if answer.pop('collect'):
                    return None
            except (IndexError, KeyError, TypeError, ValueError, AttributeError):
                raise _WaiterUnusable()
            return dict(answer, finished=False, changed=False)
        return round_

    def _find_script(self, src):
        """src as given, else among the role's/playbook's files, else inside this collection
        (so that ``examples/secure_compare.py`` names the bundled example)."""
        if os.path.isabs(src) and os.path.isfile(src):
            return src
        try:
            return self._find_needle('files', src)
        except Exception as exc:
            bundled = os.path.join(COLLECTION_ROOT, src)
            if os.path.isfile(bundled):
                return bundled
            raise AnsibleActionFail('sf_job: cannot find the job script %s on the controller: %s' % (src, exc))


class _WaiterUnusable(Exception):
    """The host did not answer a watch round as job_watch does (no such Python, a shell that differs)."""


def _tell(watch_dir, party, state, detail=None):
    """Record this party's job state for the other heads' watches (atomic replace)."""
    path = os.path.join(watch_dir, '%s.json' % party)
    with open(path + '.tmp', 'w') as f:
        json.dump({'state': state, 'detail': detail, 'at': time.time()}, f)
    os.replace(path + '.tmp', path)


def _failed_peers(watch_dir, party):
    failed = []
    for name in sorted(os.listdir(watch_dir)):
        if not name.endswith('.json') or name == '%s.json' % party:
            continue
        try:
            with open(os.path.join(watch_dir, name)) as f:
                state = json.load(f)
        except (IOError, OSError, ValueError):
            continue
        if state.get('state') == 'failed':
            failed.append(name[:-len('.json')])
    return failed


WATCH_SOURCE = inspect.getsource(job_watch)
COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
