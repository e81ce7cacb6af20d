#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sfdeploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: sf_os_packages
short_description: Make sure OS packages are installed, asking the package database first
version_added: "0.1.0"
description:
  - Asks the package database (C(dpkg-query), C(rpm -q)) which of I(names) are missing, which takes
    milliseconds; only when some are missing does it refresh the package lists (Debian family, when
    older than I(cache_valid_time)) and install them with C(apt-get) or C(dnf). A host that has
    everything costs one quick call, not an opened package cache per task.
  - Several inventory hosts of one machine (parties sharing it) may run it at the same time. Installs on
    one machine take turns on a lock of their own (C(/run/lock/sfdeploy-os-packages.lock)), because two concurrent
    C(apt-get update) runs can corrupt apt's cache without apt saying the lock was held. The one that
    waited asks the package database again and finds nothing left to do. It also waits for the package
    manager's own locks (another program's apt run), up to I(lock_timeout) seconds in all.
  - Never removes or upgrades a package.
  - With I(state=available) it installs nothing - the playbooks' preflight checks every package the roles
    will need on a host in one call, before any host changes. When some are missing it refreshes the
    package lists (as an install would) and asks the package manager whether it can provide them; it fails
    naming every package it cannot (the mirror cannot be reached, or has no such package), with
    RV(unavailable).
author:
  - sfdeploy contributors (@sfdeploy)
options:
  names:
    description: Package names.
    type: list
    elements: str
    required: true
  cache_valid_time:
    description: Debian family - refresh the package lists before installing when they are older than this (seconds).
    type: int
    default: 86400
  lock_timeout:
    description: Seconds to wait for the package manager's locks.
    type: int
    default: 600
  state:
    description:
      - C(present) - install the missing packages.
      - C(available) - install nothing; fail naming the missing packages the package manager cannot provide.
    type: str
    choices: [present, available]
    default: present
attributes:
  check_mode:
    description: Can run in check mode and report what it would change without changing it.
    support: full
    details: Reports the packages that would be installed.
  diff_mode:
    description: Reports what it changes (or would change in check mode) with --diff.
    support: full
'''

EXAMPLES = r'''
- name: Install what SPU's wheels load
  sfdeploy.secretflow.sf_os_packages:
    names: [libgomp1]
  become: true
'''

RETURN = r'''
missing:
  description: The packages that were not installed (and were installed, unless in check mode or I(state=available)).
  returned: always
  type: list
  elements: str
unavailable:
  description: I(state=available) - the missing packages the package manager cannot provide.
  returned: when I(state=available) found some
  type: list
  elements: str
'''

import fcntl
import glob
import os
import re
import subprocess
import time

from ansible.module_utils.basic import AnsibleModule

MACHINE_LOCK = '/run/lock/sfdeploy-os-packages.lock'
LOCKED = re.compile(r'Could not get lock|Unable to lock|is another process using it|Waiting for cache lock', re.I)


def missing_debian(names):
    """Packages of ``names`` that dpkg does not have installed."""
    out = subprocess.run(['dpkg-query', '-W', '-f', '${Package} ${db:Status-Abbrev}\\n'] + list(names),
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, check=False).stdout
    installed = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1].startswith('ii'):
            installed.add(parts[0].split(':')[0])
    return [n for n in names if n not in installed]


def missing_rpm(names):
    return [n for n in names if subprocess.run(['rpm', '-q', '--whatprovides', n], stdout=subprocess.DEVNULL,
                                               stderr=subprocess.DEVNULL, check=False).returncode != 0]


def lists_age():
    """Seconds since the Debian package lists were last refreshed (None: never)."""
    stamps = [os.path.getmtime(p) for p in glob.glob('/var/lib/apt/lists/*_Packages*')]
    stamp = '/var/lib/apt/periodic/update-success-stamp'
    if os.path.exists(stamp):
        stamps.append(os.path.getmtime(stamp))
    return time.time() - max(stamps) if stamps else None


def take_machine_lock(module, timeout):
    """An exclusive lock for this machine's installs, held until the module exits."""
    directory = os.path.dirname(MACHINE_LOCK)
    path = MACHINE_LOCK if os.path.isdir(directory) else '/tmp/sfdeploy-os-packages.lock'
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    deadline = time.time() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except (IOError, OSError):
            if time.time() > deadline:
                module.fail_json(msg='another install on this machine held %s for %d s' % (path, timeout))
            time.sleep(0.5)


def run_waiting(module, argv, env, lock_timeout):
    """Run a package manager command, again while another process holds its lock."""
    deadline = time.time() + lock_timeout
    while True:
        rc, out, err = module.run_command(argv, environ_update=env)
        if rc == 0 or not LOCKED.search(out + err) or time.time() > deadline:
            return rc, out, err
        time.sleep(3)


def unreachable(missing, output):
    """The message for OS packages that cannot be fetched: which ones, and what the host needs."""
    return ('these OS packages are missing and the distribution\'s mirror cannot provide them: %s. A host without '
            'internet needs a package mirror it reaches, or these packages installed beforehand (README, "Hosts '
            'without internet"). The package manager said: %s' % (', '.join(missing), output.strip()[-1500:]))


def refresh_debian(module, missing, lock, force=False):
    """Refresh the package lists when older than cache_valid_time (or ``force``); returns what apt
    warned about."""
    age = lists_age()
    if not force and age is not None and age <= module.params['cache_valid_time']:
        return ''
    rc, out, err = run_waiting(module, ['apt-get', 'update', '-q'], {'DEBIAN_FRONTEND': 'noninteractive'}, lock)
    # A mirror that cannot be reached is only a warning here (W: Failed to fetch): the install then
    # fails to find the packages (state=available reads the warning), and says so.
    if rc != 0:
        module.fail_json(msg=unreachable(missing, err or out), missing=missing, unavailable=missing)
    return '\n'.join(line for line in (out + '\n' + err).splitlines() if line.startswith(('W:', 'E:')))


FETCH_FAILED = r'Failed to fetch|Temporary failure resolving|Could not resolve'
MIRROR_DOWN = re.compile(FETCH_FAILED + r'|Unable to locate package')


def without_candidate(policy, missing, mirror_down):
    """The packages of ``missing`` that ``apt-cache policy`` output gives no candidate (an unknown
    name prints nothing); all of them when the mirror is down - older lists cannot fetch anything."""
    candidates = dict(re.findall(r'^(\S+):\n\s+Installed: .*\n\s+Candidate: (\S+)', policy, re.M))
    return [n for n in missing if mirror_down or candidates.get(n, '(none)') == '(none)']


def check_available(module, debian, missing, lock):
    """state=available: fail naming the missing packages the package manager cannot provide."""
    if debian:
        # Always refreshed: fresh lists say nothing of whether the mirror answers now.
        said = refresh_debian(module, missing, lock, force=True)
        mirror_down = bool(re.search(FETCH_FAILED, said))
        rc, out, err = module.run_command(['apt-cache', 'policy'] + missing)
        unavailable = without_candidate(out, missing, mirror_down)
        output = '\n'.join(t for t in (said, err.strip()) if t)
    else:
        dnf = module.get_bin_path('dnf') or 'yum'
        rc, out, err = module.run_command([dnf, '-q', 'makecache'])
        mirror_down = rc != 0
        output = (err or out).strip()
        unavailable = list(missing) if mirror_down else [
            n for n in missing if module.run_command([dnf, '-q', 'list', '--available', n])[0] != 0]
    if not unavailable:
        module.exit_json(changed=False, missing=missing, unavailable=[])
    if mirror_down:
        module.fail_json(msg=unreachable(unavailable, output), missing=missing, unavailable=unavailable)
    module.fail_json(msg='these OS packages are missing and the package manager has no candidate for them: %s. Check '
                         'the names and the host\'s package sources.%s'
                         % (', '.join(unavailable), ' The package manager said: %s' % output[-1500:] if output else ''),
                     missing=missing, unavailable=unavailable)


def main():
    module = AnsibleModule(
        argument_spec=dict(names=dict(type='list', elements='str', required=True),
                           cache_valid_time=dict(type='int', default=86400),
                           lock_timeout=dict(type='int', default=600),
                           state=dict(type='str', default='present', choices=['present', 'available'])),
        supports_check_mode=True)
    names = [n for n in module.params['names'] if n]
    debian = bool(module.get_bin_path('dpkg-query'))
    if not debian and not module.get_bin_path('rpm'):
        module.fail_json(msg='neither dpkg nor rpm is on this host; install %s yourself' % ', '.join(names))
    find_missing = missing_debian if debian else missing_rpm
    missing = find_missing(names)
    diff = {'before': {'missing': missing}, 'after': {'missing': []}}
    available = module.params['state'] == 'available'
    if not missing or module.check_mode:
        module.exit_json(changed=bool(missing) and not available, missing=missing, diff=diff)
    lock = module.params['lock_timeout']
    take_machine_lock(module, lock)
    # Another inventory host of this machine may have installed them while this one waited.
    missing = find_missing(names)
    diff = {'before': {'missing': missing}, 'after': {'missing': []}}
    if not missing:
        module.exit_json(changed=False, missing=missing, diff=diff)
    if available:
        check_available(module, debian, missing, lock)
    if debian:
        env = {'DEBIAN_FRONTEND': 'noninteractive'}
        update_said = refresh_debian(module, missing, lock)
        argv = ['apt-get', 'install', '-y', '-q', '-o', 'DPkg::Lock::Timeout=%d' % lock] + missing
    else:
        argv = [module.get_bin_path('dnf') or 'yum', 'install', '-y'] + missing
        env = {}
        update_said = ''
    rc, out, err = run_waiting(module, argv, env, lock)
    if rc != 0:
        if MIRROR_DOWN.search(out + err):
            module.fail_json(msg=unreachable(missing, '\n'.join(t for t in (update_said, (err or out).strip()) if t)),
                             missing=missing)
        module.fail_json(msg='installing %s failed: %s' % (', '.join(missing), (err or out).strip()[-2000:]),
                         missing=missing)
    module.exit_json(changed=True, missing=missing, diff=diff)


if __name__ == '__main__':
    main()
