#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sfdeploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: sf_wheelhouse
short_description: Download a lock's distributions once, check them against its hashes, pack them for the hosts
version_added: "0.2.0"
description:
  - Runs on the controller (C(delegate_to localhost), C(run_once)). Keeps a pool of distributions in I(pool),
    one file per distribution, found by its sha256; downloads (C(pip download --no-deps --require-hashes)) only
    the distributions of I(lock) that the pool lacks, for I(python) and I(platform) - a second deployment of
    the same lock downloads nothing, and a new lock only what changed.
  - Every file of the wheelhouse is checked against the lock's hashes; a file whose sha256 is not among its
    pin's hashes is refused, naming it, and nothing is packed.
  - With I(source), uses that directory (a wheelhouse the site already has) instead of downloading.
  - Packs the lock's files and the C(uv) wheel into one archive (C(wheelhouse-<digest>.tar) in I(pool)), which
    the role copies once to each machine; hosts then install with no index at all.
author:
  - sfdeploy contributors (@sfdeploy)
options:
  lock:
    description: The lock's text (compiled by C(scripts/lock.py)).
    type: str
    required: true
  pool:
    description: The controller's directory of distributions, shared by every lock.
    type: path
    required: true
  source:
    description: A directory of distributions the site already has; nothing is downloaded.
    type: path
  index_url:
    description: The index to download from.
    type: str
    default: https://pypi.org/simple
  uv_version:
    description: The uv release the hosts install from the wheelhouse.
    type: str
    required: true
  ca_bundle:
    description: The CA bundle pip trusts to reach I(index_url), when it exists on the controller.
    type: path
    default: /etc/ssl/certs/ca-certificates.crt
attributes:
  check_mode:
    description: In check mode it downloads nothing and reports what it would download (C(missing)).
    support: full
  diff_mode:
    description: Not applicable.
    support: none
'''

EXAMPLES = r'''
- name: Build the wheelhouse on the controller
  sfdeploy.secretflow.sf_wheelhouse:
    lock: "{{ lookup('file', secretflow_lock_file) }}"
    pool: ~/.cache/sfdeploy/wheelhouse
    uv_version: "0.13.9"
  delegate_to: localhost
  run_once: true
'''

RETURN = r'''
archive:
  description: The archive of the lock's wheelhouse, to copy to the hosts.
  returned: success
  type: str
digest:
  description: The sha256 of the archive's file list (names the wheelhouse on the hosts).
  returned: success
  type: str
downloaded:
  description: How many files were downloaded by this call (0 when the pool had them all).
  returned: success
  type: int
downloaded_bytes:
  description: Their size.
  returned: success
  type: int
missing:
  description: Check mode - the pins the pool lacks, which a run would download.
  returned: check mode, when some are missing
  type: list
  elements: str
files:
  description: The wheelhouse's files.
  returned: success
  type: list
  elements: str
'''

import hashlib
import io
import json
import os
import re
import shutil
import sys
import tarfile
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sfdeploy.secretflow.plugins.module_utils import lock as package_lock
from ansible_collections.sfdeploy.secretflow.plugins.module_utils.files import write_atomic


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


def sha256(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


class Pool(object):
    """Files by sha256, with an index so that files are hashed once."""

    def __init__(self, module, path):
        self.m = module
        self.path = path
        os.makedirs(path, exist_ok=True)
        self.index_path = os.path.join(path, 'index.json')
        try:
            with open(self.index_path) as f:
                self.index = json.load(f)
        except (IOError, OSError, ValueError):
            self.index = {}
        self.index = {h: n for h, n in self.index.items() if os.path.isfile(os.path.join(path, n))}

    def add(self, directory):
        """Hash the distributions of ``directory`` into the pool; returns their names and total size."""
        names, size = [], 0
        for name in sorted(os.listdir(directory)):
            src = os.path.join(directory, name)
            if not os.path.isfile(src) or not name.endswith(('.whl', '.tar.gz', '.zip')):
                continue
            digest = sha256(src)
            if digest not in self.index:
                dest = os.path.join(self.path, name)
                if os.path.abspath(src) != os.path.abspath(dest):
                    shutil.copyfile(src, dest)
                self.index[digest] = name
                names.append(name)
                size += os.path.getsize(dest)
        write_atomic(self.index_path, json.dumps(self.index, indent=1, sort_keys=True) + '\n', 0o644)
        return names, size

    def find(self, hashes):
        for h in sorted(hashes):
            if h in self.index:
                return self.index[h]
        return None


def pip_download(module, argv_tail, index_url, into):
    # pip's own settings of this controller (config files, PIP_* variables: constraints, extra
    # indexes) stay out of it: the lock and index_url say what to fetch, and from where.
    argv = [sys.executable, '-m', 'pip', '--isolated', 'download', '--disable-pip-version-check', '--no-deps',
            '--only-binary=:all:', '--index-url', index_url, '--dest', into]
    if module.params['ca_bundle'] and os.path.exists(module.params['ca_bundle']):
        argv += ['--cert', module.params['ca_bundle']]
    rc, out, err = module.run_command(argv + argv_tail, environ_update={'PIP_CONFIG_FILE': os.devnull})
    if rc != 0:
        module.fail_json(msg='downloading the wheelhouse from %s failed: %s' % (index_url, (err or out).strip()[-3000:]))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            lock=dict(type='str', required=True),
            pool=dict(type='path', required=True),
            source=dict(type='path'),
            index_url=dict(type='str', default='https://pypi.org/simple'),
            uv_version=dict(type='str', required=True),
            ca_bundle=dict(type='path', default='/etc/ssl/certs/ca-certificates.crt'),
        ),
        supports_check_mode=True)
    p = module.params
    info = package_lock.parse(p['lock'])
    # uv names the platform arch-tag (x86_64-manylinux_2_28), pip tag_arch (manylinux_2_28_x86_64).
    target = ['--python-version', info['python'] or '3.11', '--implementation', 'cp']
    for platform in pip_platforms(info['platform'] or 'x86_64-manylinux_2_28'):
        target += ['--platform', platform]
    pins = [('%s==%s' % (name, version), info['hashes'][name]) for name, version in info['pins'].items()]
    if not pins:
        module.fail_json(msg='the lock pins no package')
    pool = Pool(module, p['pool'])
    work = tempfile.mkdtemp(prefix='sfdeploy-wheelhouse-')
    downloaded, size = [], 0
    try:
        if p['source']:
            if not os.path.isdir(p['source']):
                module.fail_json(msg='the wheelhouse directory %s does not exist' % p['source'])
            pool.add(p['source'])
        missing = [(pin, hashes) for pin, hashes in pins if not pool.find(hashes)]
        if missing and module.check_mode:
            module.exit_json(changed=True, archive=None, digest=None, files=[], downloaded=0, downloaded_bytes=0,
                             missing=[pin for pin, _hashes in missing])
        if missing and not p['source']:
            requirements = os.path.join(work, 'missing.txt')
            with open(requirements, 'w') as f:
                f.writelines('%s %s\n' % (pin, ' '.join('--hash=sha256:%s' % h for h in sorted(hashes)))
                             for pin, hashes in missing)
            fetched = os.path.join(work, 'fetched')
            pip_download(module, ['--require-hashes', '-r', requirements] + target, p['index_url'], fetched)
            downloaded, size = pool.add(fetched)
        uv_wheel = [n for n in pool.index.values() if n.startswith('uv-%s-' % p['uv_version'])]
        if not uv_wheel and not p['source']:
            fetched = os.path.join(work, 'uv')
            pip_download(module, ['uv==%s' % p['uv_version']] + target, p['index_url'], fetched)
            names, more = pool.add(fetched)
            downloaded, size = downloaded + names, size + more
            uv_wheel = names
    finally:
        shutil.rmtree(work, ignore_errors=True)

    files, wrong = [], []
    for pin, hashes in pins:
        name = pool.find(hashes)
        if name is None:
            near = [n for n in pool.index.values()
                    if package_lock.normalize(n.split('-')[0]) == package_lock.normalize(pin.split('==')[0])
                    and n.split('-')[1] == pin.split('==')[1]]
            wrong.append('%s: %s' % (pin, ('%s has a sha256 that is not among the lock\'s hashes' % ', '.join(near))
                                     if near else 'no file for it in the wheelhouse'))
        else:
            files.append(name)
    if wrong:
        module.fail_json(msg='the wheelhouse does not match the lock, nothing is installed: %s' % '; '.join(wrong))
    files += sorted(uv_wheel)[:1]
    if not uv_wheel:
        module.fail_json(msg='the wheelhouse has no wheel of uv %s, which the hosts need to install' % p['uv_version'])
    digest = hashlib.sha256('\n'.join(files).encode('utf-8')).hexdigest()[:16]
    archive = os.path.join(p['pool'], 'wheelhouse-%s.tar' % digest)
    if not os.path.exists(archive):
        fd, tmp = tempfile.mkstemp(dir=p['pool'], prefix='.wheelhouse-')
        os.close(fd)
        with tarfile.open(tmp, 'w') as tar:
            for name in files:
                tar.add(os.path.join(p['pool'], name), arcname=name)
            listing = ('\n'.join(files) + '\n').encode('utf-8')
            entry = tarfile.TarInfo('sfdeploy-wheelhouse.txt')
            entry.size = len(listing)
            entry.mtime = int(time.time())
            tar.addfile(entry, io.BytesIO(listing))
        os.replace(tmp, archive)
    if downloaded:
        with open(os.path.join(p['pool'], 'downloads.log'), 'a') as f:
            f.write('%s %d files %d bytes\n' % (time.strftime('%Y-%m-%dT%H:%M:%S'), len(downloaded), size))
    module.exit_json(changed=bool(downloaded), archive=archive, digest=digest, files=files,
                     downloaded=len(downloaded), downloaded_bytes=size)


if __name__ == '__main__':
    main()
