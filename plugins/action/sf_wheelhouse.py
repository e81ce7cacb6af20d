# -*- coding: utf-8 -*-
# Copyright: sfdeploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of sf_wheelhouse (the module is the host side; its DOCUMENTATION describes both).

1. The pool: the lock's distributions on the controller, one file per sha256. Only what the pool
   lacks is downloaded; hosts of one run take turns on the pool (a lock file), so the first host
   downloads and the others find everything there. Every file is checked against the lock's
   hashes before anything reaches a host.
2. The copy: the module tells which files the machine lacks, they travel over the management
   connection one by one, and the module checks and places them. Parties of one machine take
   turns (a lock file per machine), so the second finds the first's copy; different machines are
   copied to at the same time.

Both show a progress line every ``progress_interval`` seconds, through Ansible's display (from a
worker process it reaches the terminal at once).
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.sfdeploy.secretflow.plugins.module_utils import lock as package_lock
from ansible_collections.sfdeploy.secretflow.plugins.module_utils.files import sha256_file, write_atomic
from ansible_collections.sfdeploy.secretflow.plugins.module_utils.wheelhouse import ARGUMENT_SPEC

display = Display()

MODULE = 'sfdeploy.secretflow.sf_wheelhouse'
# dest is a path on the host: the module expands it there. Without it, the pool alone is filled.
SPEC = dict(ARGUMENT_SPEC, dest=dict(type='str'))
SIZE_UNITS = {'B': 1, 'kB': 1e3, 'MB': 1e6, 'GB': 1e9}


def megabytes(size):
    if size < 1e6:
        return '%.0f kB' % (size / 1e3)
    return '%.0f MB' % (size / 1e6) if size >= 1e7 else '%.1f MB' % (size / 1e6)


class Progress(object):
    """What a long download or copy is doing: a line when it starts, one every ``interval``
    seconds while it goes on (files and bytes done, what is left), one when it ends."""

    def __init__(self, doing, files, size=None, interval=5.0, clock=time.monotonic, say=None):
        self.doing, self.files, self.size, self.interval, self.clock = doing, files, size, interval, clock
        self.say = say or display.display
        self.start = self.last = clock()
        self.done_files, self.done_bytes = 0, 0
        amount = ' (%s)' % megabytes(size) if size else ''
        self.say('sfdeploy wheelhouse: %s: %d file%s%s' % (doing, files, '' if files == 1 else 's', amount))

    def advance(self, size, now_on=None):
        self.done_files += 1
        self.done_bytes += size
        now = self.clock()
        if now - self.last >= self.interval and self.done_files < self.files:
            self.last = now
            self.say('sfdeploy wheelhouse: %s: %s' % (self.doing, self.status(now, now_on)))

    def status(self, now, now_on=None):
        amount = ('%s of %s' % (megabytes(self.done_bytes), megabytes(self.size)) if self.size
                  else '%s so far' % megabytes(self.done_bytes))
        return '%d of %d files done, %s, %d left, %.0f s%s' % (
            self.done_files, self.files, amount, self.files - self.done_files, now - self.start,
            ' (now on %s)' % now_on if now_on else '')

    def finish(self):
        self.say('sfdeploy wheelhouse: %s: done, %d of %d files, %s in %.0f s' % (
            self.doing, self.done_files, self.files, megabytes(self.done_bytes), self.clock() - self.start))


@contextlib.contextmanager
def locked(path):
    """Hold an exclusive lock on ``path`` (hosts of one run are worker processes of one controller)."""
    with open(path, 'a') as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def pip_platforms(platform):
    """pip's --platform values for uv's platform name: x86_64-manylinux_2_28 is every manylinux
    tag from glibc 2.28 down (pip does not widen a given platform itself)."""
    arch, _sep, tag = platform.partition('-')
    match = re.match(r'^manylinux_2_(\d+)$', tag)
    if not match:
        return ['%s_%s' % (tag, arch)]
    legacy = {17: 'manylinux2014', 12: 'manylinux2010', 5: 'manylinux1'}
    out = []
    for minor in range(int(match.group(1)), 4, -1):
        out.append('manylinux_2_%d_%s' % (minor, arch))
        if minor in legacy:
            out.append('%s_%s' % (legacy[minor], arch))
    return out


class Pool(object):
    """Files by sha256, with an index so that files are hashed once."""

    def __init__(self, path):
        self.path = path
        self.index_path = os.path.join(path, 'index.json')
        try:
            with open(self.index_path) as f:
                self.index = json.load(f)
        except (IOError, OSError, ValueError):
            self.index = {}
        self.index = {h: n for h, n in self.index.items() if os.path.isfile(os.path.join(path, n))}

    def add(self, directory, move=False):
        """Hash the distributions of ``directory`` into the pool; returns the new names and their size."""
        names, size = [], 0
        for name in sorted(os.listdir(directory)):
            src = os.path.join(directory, name)
            if not os.path.isfile(src) or not name.endswith(('.whl', '.tar.gz', '.zip')):
                continue
            digest = sha256_file(src)
            if digest not in self.index:
                dest = os.path.join(self.path, name)
                if os.path.abspath(src) != os.path.abspath(dest):
                    (os.replace if move else shutil.copyfile)(src, dest)
                self.index[digest] = name
                names.append(name)
                size += os.path.getsize(dest)
        write_atomic(self.index_path, json.dumps(self.index, indent=1, sort_keys=True) + '\n', 0o644)
        return names, size

    def find(self, hashes):
        """(sha256, name) of the pool's file with one of ``hashes``, or None."""
        for h in sorted(hashes):
            if h in self.index:
                return h, self.index[h]
        return None

    def entry(self, digest, name):
        return {'name': name, 'sha256': digest, 'size': os.path.getsize(os.path.join(self.path, name))}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(SPEC)

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _valid, args = self.validate_argument_spec(argument_spec=SPEC)
        host = task_vars.get('inventory_hostname', '')
        if self._task.check_mode:  # reads the pool only
            files, missing, downloaded, size = self._pool(args, host)
        else:
            os.makedirs(args['pool'], exist_ok=True)
            with locked(os.path.join(args['pool'], '.sfdeploy-pool.lock')):
                files, missing, downloaded, size = self._pool(args, host)
        result.update(dest=args['dest'], files=[f['name'] for f in files], downloaded=len(downloaded),
                      downloaded_bytes=size, copied=0, copied_bytes=0, to_copy=[])
        if missing:  # check mode: nothing downloaded, so the files are not known yet
            result.update(changed=True, missing=missing)
            return result
        if not args['dest']:  # the pool only: no host is touched
            result.update(changed=bool(downloaded))
            return result
        machine = args['machine'] or host
        turn = '.sfdeploy-copy-%s.lock' % hashlib.sha256(machine.encode('utf-8')).hexdigest()[:16]
        with contextlib.ExitStack() as stack:
            if not self._task.check_mode:
                stack.enter_context(locked(os.path.join(args['pool'], turn)))
            answer = self._copy(args, files, task_vars, host)
        if answer.get('failed'):
            result.update(answer)
            return result
        result.update(changed=bool(downloaded) or answer['changed'] or bool(answer['to_copy']), copied=answer['copied'],
                      copied_bytes=answer['copied_bytes'], to_copy=answer['to_copy'])
        return result

    # The pool, on the controller.
    def _pool(self, args, host):
        """(files for the host, pins missing in check mode, downloaded names, their size)."""
        try:
            with open(args['lock_file']) as f:
                info = package_lock.parse(f.read())
        except (IOError, OSError) as e:
            raise AnsibleActionFail('%s: cannot read the lock %s (secretflow_lock_file): %s'
                                    % (host, args['lock_file'], e.strerror))
        pins = [('%s==%s' % (name, version), info['hashes'][name]) for name, version in info['pins'].items()]
        if not pins:
            raise AnsibleActionFail('%s: the lock %s pins no package' % (host, args['lock_file']))
        pool = Pool(args['pool'])
        if args['source']:
            if not os.path.isdir(args['source']):
                raise AnsibleActionFail('%s: the wheelhouse directory %s does not exist (secretflow_wheelhouse_dir)'
                                        % (host, args['source']))
            pool.add(args['source'])
        missing = [(pin, hashes) for pin, hashes in pins if not pool.find(hashes)]
        uv_prefix = 'uv-%s-' % args['uv_version']
        uv_missing = not any(n.startswith(uv_prefix) for n in pool.index.values())
        if (missing or uv_missing) and self._task.check_mode:
            return [], [pin for pin, _hashes in missing] + (['uv==%s' % args['uv_version']] if uv_missing else []), \
                [], 0
        downloaded, size = [], 0
        if (missing or uv_missing) and not args['source']:
            downloaded, size = self._download(args, pool, missing, uv_missing, info)
        files, wrong = [], []
        for pin, hashes in pins:
            found = pool.find(hashes)
            if found is None:
                name, version = pin.split('==')
                near = [n for n in pool.index.values()
                        if package_lock.normalize(n.split('-')[0]) == package_lock.normalize(name)
                        and n.split('-')[1] == version]
                wrong.append('%s: %s' % (pin, ('%s has a sha256 that is not among the lock\'s hashes' % ', '.join(near))
                                         if near else 'no file for it in the wheelhouse'))
            else:
                files.append(pool.entry(*found))
        if wrong:
            raise AnsibleActionFail('%s: the wheelhouse does not match the lock, nothing is installed: %s'
                                    % (host, '; '.join(wrong)))
        uv = sorted((h, n) for h, n in pool.index.items() if n.startswith(uv_prefix))
        if not uv:
            raise AnsibleActionFail('%s: the wheelhouse has no wheel of uv %s, which the hosts need to install'
                                    % (host, args['uv_version']))
        files.append(pool.entry(*uv[0]))
        return files, [], downloaded, size

    def _download(self, args, pool, missing, uv_missing, info):
        # uv names the platform arch-tag (x86_64-manylinux_2_28), pip tag_arch (manylinux_2_28_x86_64).
        target = ['--python-version', info['python'] or '3.11', '--implementation', 'cp']
        for platform in pip_platforms(info['platform'] or 'x86_64-manylinux_2_28'):
            target += ['--platform', platform]
        progress = Progress('downloading what the pool lacks from %s' % args['index_url'],
                            len(missing) + int(uv_missing), interval=args['progress_interval'])
        work = tempfile.mkdtemp(prefix='.download-', dir=args['pool'])  # beside the pool: files move, not copy
        try:
            if missing:
                requirements = os.path.join(work, 'missing.txt')
                with open(requirements, 'w') as f:
                    f.writelines('%s %s\n' % (pin, ' '.join('--hash=sha256:%s' % h for h in sorted(hashes)))
                                 for pin, hashes in missing)
                self._pip_download(args, ['--require-hashes', '-r', requirements] + target, work, progress)
            if uv_missing:
                self._pip_download(args, ['uv==%s' % args['uv_version']] + target, work, progress)
            fetched = os.path.join(work, 'fetched')
            names, size = pool.add(fetched, move=True) if os.path.isdir(fetched) else ([], 0)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        progress.finish()
        with open(os.path.join(args['pool'], 'downloads.log'), 'a') as f:
            f.write('%s %d files %d bytes\n' % (time.strftime('%Y-%m-%dT%H:%M:%S'), len(names), size))
        return names, size

    def _pip_download(self, args, argv_tail, work, progress):
        # pip's own settings of this controller (config files, PIP_* variables: constraints, extra
        # indexes) stay out of it: the lock and index_url say what to fetch, and from where.
        argv = [sys.executable, '-m', 'pip', '--isolated', 'download', '--disable-pip-version-check', '--no-deps',
                '--only-binary=:all:', '--progress-bar', 'off', '--index-url', args['index_url'],
                '--dest', os.path.join(work, 'fetched')]
        if args['ca_bundle'] and os.path.exists(args['ca_bundle']):
            argv += ['--cert', args['ca_bundle']]
        env = dict((k, v) for k, v in os.environ.items() if not k.startswith('PIP_'))
        env['PIP_CONFIG_FILE'] = os.devnull
        tail, pending = collections.deque(maxlen=40), None
        try:
            proc = subprocess.Popen(argv + argv_tail, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                                    universal_newlines=True, bufsize=1)
        except OSError as e:
            raise AnsibleActionFail('cannot run pip on the controller (%s): %s' % (sys.executable, e))
        for line in proc.stdout:
            tail.append(line.rstrip())
            # pip names each file as it starts fetching it: the one before is then done.
            started = re.match(r'\s*(?:Downloading|Using cached) (\S+) \(([\d.]+) (B|kB|MB|GB)\)', line)
            if started:
                if pending is not None:
                    progress.advance(pending, started.group(1).rsplit('/', 1)[-1])
                pending = float(started.group(2)) * SIZE_UNITS[started.group(3)]
        if proc.wait() != 0:
            if 'No module named pip' in '\n'.join(tail):
                raise AnsibleActionFail('the controller\'s Python (%s) has no pip, which downloads the wheelhouse: '
                                        'install pip there, or give secretflow_wheelhouse_dir' % sys.executable)
            raise AnsibleActionFail('downloading the wheelhouse from %s failed: %s'
                                    % (args['index_url'], '\n'.join(tail)[-3000:]))
        if pending is not None:
            progress.advance(pending)

    # The copy, to the host.
    def _copy(self, args, files, task_vars, host):
        module_args = dict(self._task.args, files=files)
        answer = self._execute_module(module_name=MODULE, module_args=module_args, task_vars=task_vars)
        if answer.get('failed') or not answer['to_copy'] or self._task.check_mode:
            return dict(answer, copied=0, copied_bytes=0)
        by_name = dict((f['name'], f) for f in files)
        todo = [by_name[n] for n in answer['to_copy']]
        size = sum(f['size'] for f in todo)
        progress = Progress('copying to %s:%s' % (host, args['dest']), len(todo), size,
                            interval=args['progress_interval'])
        if self._connection._shell.tmpdir is None:
            self._make_tmp_path()
        staged = self._connection._shell.tmpdir
        remote = []
        for f in todo:
            remote.append(self._transfer_file(os.path.join(args['pool'], f['name']),
                                              self._connection._shell.join_path(staged, f['name'])))
            progress.advance(f['size'])
        self._fixup_perms2([staged] + remote)
        placed = self._execute_module(module_name=MODULE, module_args=dict(module_args, staged=staged),
                                      task_vars=task_vars)
        if placed.get('failed'):
            return placed
        if placed['to_copy']:
            raise AnsibleActionFail('%s still lacks %s after the copy' % (host, ', '.join(placed['to_copy'])))
        progress.finish()
        return dict(placed, changed=True, copied=len(todo), copied_bytes=size)
