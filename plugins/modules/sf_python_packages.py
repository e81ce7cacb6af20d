#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sfdeploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: sf_python_packages
short_description: Install a pinned package set into a Python environment with uv, only when it drifted
version_added: "0.1.0"
description:
  - Compares the versions installed in the environment of I(python) with the pins of I(packages) and
    I(overrides), and the requirement files it wrote last time with the ones it would write now. When
    nothing differs it changes nothing (one quick call, no resolution).
  - Otherwise it installs uv (I(uv_version), with pip) when the environment lacks it, writes
    C(sfdeploy-requirements.txt) and C(sfdeploy-overrides.txt) next to the environment, and runs
    C(uv pip install -r ... --override ...) through the machine's cache I(cache_dir).
  - With I(lock) (a lock compiled by C(scripts/lock.py)), the environment gets exactly the lock's
    distributions - C(uv pip install --require-hashes --no-deps -r sfdeploy-lock.txt), so every file is
    checked against the lock's hashes and nothing is resolved on the host - and it is compared with every
    pin of the lock, before (drift) and after the install (a difference left fails, naming it).
  - May run with C(async) so that other work goes on meanwhile.
author:
  - sfdeploy contributors (@sfdeploy)
options:
  python:
    description: The environment's interpreter.
    type: path
    required: true
  packages:
    description: Requirements, each pinned with C(==).
    type: list
    elements: str
    required: true
  overrides:
    description: uv overrides (pins replacing the packages' own).
    type: list
    elements: str
    default: []
  exclusions:
    description: Dependencies never installed (written as overrides with a marker that is never true).
    type: list
    elements: str
    default: []
  index_url:
    description: The package index.
    type: str
    default: https://pypi.org/simple
  extra_index_urls:
    description: Further indexes.
    type: list
    elements: str
    default: []
  uv_version:
    description: The uv version to install into the environment.
    type: str
    required: true
  cache_dir:
    description: uv's cache (one per machine).
    type: path
    required: true
  find_links:
    description:
      - A wheelhouse directory on the host (the role copies it there with I(install_source=wheelhouse)). uv, and
        the packages, are then installed from it with no index at all.
    type: path
  lock:
    description:
      - The text of a lock compiled by C(scripts/lock.py) for I(packages), I(overrides) and I(exclusions)
        (the playbooks' preflight checks that it fits them). Without it the set is resolved on the host.
    type: str
  ca_bundle:
    description: CA bundle uv and pip trust to reach the index.
    type: path
    default: /etc/ssl/certs/ca-certificates.crt
attributes:
  check_mode:
    description: Can run in check mode and report what it would change without changing it.
    support: full
    details: Reports the drift it would install.
  diff_mode:
    description: Reports what it changes (or would change in check mode) with --diff.
    support: full
'''

EXAMPLES = r'''
- name: Install the pinned packages with uv
  sfdeploy.secretflow.sf_python_packages:
    python: /opt/sfdeploy/envs/alice/bin/python
    packages: [secretflow==1.11.0b1, ray==2.9.3]
    overrides: [sdc-sdk==0.1.0b0]
    exclusions: [torch]
    uv_version: "0.13.9"
    cache_dir: /var/cache/sfdeploy/uv
'''

RETURN = r'''
drift:
  description: One line per pinned package whose installed version differs (C(name - want X, have Y)).
  returned: always
  type: list
  elements: str
files_changed:
  description: The requirement files that were (or would be) rewritten.
  returned: always
  type: list
  elements: str
uv_drift:
  description: The line for uv itself when the environment lacks I(uv_version) (C(uv - want X, have Y)).
  returned: always
  type: list
  elements: str
'''

import os
import re

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sfdeploy.secretflow.plugins.module_utils import lock as package_lock
from ansible_collections.sfdeploy.secretflow.plugins.module_utils.files import read, write_atomic

HEADER = '# Managed by sfdeploy (secretflow role); rewritten on every change of the package set.\n'
DRIFT_SCRIPT = r'''
import importlib.metadata as m, re, sys
for req in sys.argv[1:]:
    name, want = re.split(r'(?:\[[^]]*\])?==', req, maxsplit=1)
    try:
        have = m.version(name)
    except m.PackageNotFoundError:
        have = None
    if have != want:
        print('%s: want %s, have %s' % (name, want, have))
'''


def file_contents(packages, overrides, exclusions, lock=None):
    """The requirement and override files' text, or the lock's."""
    if lock:
        return {'sfdeploy-lock.txt': lock}
    requirements = HEADER + ''.join('%s\n' % r for r in packages)
    override = (HEADER + '# Pins replacing the packages\' own ones, and dependencies never to install.\n'
                + ''.join('%s\n' % r for r in overrides)
                + ''.join("%s ; sys_platform == 'never'\n" % n for n in exclusions))
    return {'sfdeploy-requirements.txt': requirements, 'sfdeploy-overrides.txt': override}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            python=dict(type='path', required=True),
            packages=dict(type='list', elements='str', required=True),
            overrides=dict(type='list', elements='str', default=[]),
            exclusions=dict(type='list', elements='str', default=[]),
            index_url=dict(type='str', default='https://pypi.org/simple'),
            extra_index_urls=dict(type='list', elements='str', default=[]),
            uv_version=dict(type='str', required=True),
            cache_dir=dict(type='path', required=True),
            ca_bundle=dict(type='path', default='/etc/ssl/certs/ca-certificates.crt'),
            lock=dict(type='str'),
            find_links=dict(type='path'),
        ),
        supports_check_mode=True)
    p = module.params
    python = p['python']
    prefix = os.path.dirname(os.path.dirname(python))
    uv = os.path.join(os.path.dirname(python), 'uv')
    locked = package_lock.parse(p['lock']) if p['lock'] else None
    wanted = file_contents(p['packages'], p['overrides'], p['exclusions'], p['lock'])
    pins = (['%s==%s' % item for item in sorted(locked['pins'].items())] if locked
            else p['packages'] + p['overrides'])
    files_changed = sorted(name for name, text in wanted.items() if read(os.path.join(prefix, name)) != text)

    def read_drift():
        rc, out, err = module.run_command([python, '-c', DRIFT_SCRIPT, 'uv==' + p['uv_version']] + pins)
        if rc != 0:
            module.fail_json(msg='cannot read the versions installed in %s: %s' % (prefix, (err or out).strip()))
        return out.splitlines()

    if os.access(python, os.X_OK):
        if locked and locked['python']:
            rc, out, err = module.run_command([python, '-c', 'import sys; print("%d.%d" % sys.version_info[:2])'])
            if out.strip() != locked['python']:
                have = out.strip()
                module.fail_json(msg='the lock was compiled for Python %s, but %s is Python %s: compile a lock for it '
                                     '(scripts/lock.py --python %s)' % (locked['python'], python, have, have))
        drift = read_drift()
    elif module.check_mode:
        drift = ['%s: the environment does not exist yet' % prefix]
    else:
        module.fail_json(msg='%s does not exist: create the environment first (the python role)' % python)

    uv_drift = [line for line in drift if line.startswith('uv:')]
    drift = [line for line in drift if not line.startswith('uv:')]
    result = dict(drift=drift, files_changed=files_changed, uv_drift=uv_drift,
                  diff={'before': {'drift': drift, 'files': files_changed}, 'after': {'drift': [], 'files': []}})
    if not (drift or files_changed or uv_drift):
        module.exit_json(changed=False, **result)
    if module.check_mode:
        module.exit_json(changed=True, **result)

    if uv_drift:
        source = ['--no-index', '--find-links', p['find_links']] if p['find_links'] else []
        rc, out, err = module.run_command([python, '-m', 'pip', 'install', '--disable-pip-version-check']
                                          + source + ['uv==' + p['uv_version']],
                                          environ_update={'PIP_INDEX_URL': p['index_url'], 'PIP_CERT': p['ca_bundle']})
        if rc != 0:
            module.fail_json(msg='installing uv %s failed: %s' % (p['uv_version'], (err or out).strip()[-2000:]),
                             **result)
    if not os.path.isdir(p['cache_dir']):
        os.makedirs(p['cache_dir'], mode=0o755)
    for name, text in wanted.items():
        write_atomic(os.path.join(prefix, name), text, 0o644)
    argv = [uv, 'pip', 'install', '--python', python]
    argv += ['--no-index', '--find-links', p['find_links']] if p['find_links'] else ['--index-url', p['index_url']]
    if locked:
        argv += ['--require-hashes', '--no-deps', '-r', os.path.join(prefix, 'sfdeploy-lock.txt')]
    else:
        argv += ['-r', os.path.join(prefix, 'sfdeploy-requirements.txt'),
                 '--override', os.path.join(prefix, 'sfdeploy-overrides.txt')]
    argv += [] if p['find_links'] else ['--extra-index-url=%s' % url for url in p['extra_index_urls']]
    rc, out, err = module.run_command(argv, environ_update={'SSL_CERT_FILE': p['ca_bundle'],
                                                            'UV_CACHE_DIR': p['cache_dir'], 'UV_NO_PROGRESS': '1'})
    if rc != 0:
        module.fail_json(msg='uv could not install the package set into %s: %s'
                         % (prefix, re.sub(r'\s+\n', '\n', (err or out).strip())[-3000:]), **result)
    left = [line for line in read_drift() if not line.startswith('uv:')] if locked else []
    if left:
        module.fail_json(msg='%s differs from the lock after the install: %s' % (prefix, '; '.join(left)), **result)
    module.exit_json(changed=True, stdout_lines=out.splitlines()[-40:], stderr_lines=err.splitlines()[-40:], **result)


if __name__ == '__main__':
    main()
