# Copyright: sfdeploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compile the lock of a package set: every distribution it resolves to, with its hashes.

    python3 scripts/lock.py                      # the secretflow role's default set -> roles/secretflow/files/default.lock
    python3 scripts/lock.py --vars my.yml -o my.lock   # your set (secretflow_packages, _overrides, _exclusions)

then set ``secretflow_lock_file: /path/to/my.lock`` in the inventory. Every host installs exactly
what the lock names, checked against its hashes, and a host whose environment differs from it
is reported by name. The lock is compiled for one Python version and platform (``--python``,
``--platform``; the test bed's Debian 12 hosts are 3.11 on x86_64); the hashes cover every file of
each pinned version.

Needs uv (this checkout's .venv has it after scripts/setup.sh, or any uv on PATH).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'plugins', 'module_utils'))
import lock  # noqa: E402  (module_utils/lock.py, pure Python)

DEFAULTS = os.path.join(ROOT, 'roles', 'secretflow', 'defaults', 'main.yml')


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--vars', help='a YAML file with secretflow_packages, secretflow_overrides, '
                                       'secretflow_exclusions, secretflow_index_url (each optional; '
                                       'the role defaults fill the rest)')
    parser.add_argument('-o', '--output', default=os.path.join(ROOT, 'roles', 'secretflow', 'files', 'default.lock'))
    parser.add_argument('--python', default='3.11', help='the hosts\' Python version (default 3.11)')
    parser.add_argument('--platform', default='x86_64-manylinux_2_28', help='uv --python-platform')
    args = parser.parse_args()

    with open(DEFAULTS) as f:
        settings = yaml.safe_load(f)
    if args.vars:
        with open(args.vars) as f:
            settings.update(yaml.safe_load(f) or {})
    packages = settings['secretflow_packages']
    overrides = settings.get('secretflow_overrides') or []
    exclusions = settings.get('secretflow_exclusions') or []
    uv = os.path.join(ROOT, '.venv', 'bin', 'uv')
    uv = uv if os.access(uv, os.X_OK) else shutil.which('uv')
    if not uv:
        sys.exit('lock.py: uv is needed (run scripts/setup.sh, or pip install uv)')

    work = tempfile.mkdtemp(prefix='sfdeploy-lock-')
    try:
        reqs, over, out = (os.path.join(work, n) for n in ('requirements.txt', 'overrides.txt', 'lock.txt'))
        with open(reqs, 'w') as f:
            f.writelines('%s\n' % r for r in packages)
        with open(over, 'w') as f:
            f.writelines('%s\n' % r for r in overrides)
            f.writelines("%s ; sys_platform == 'never'\n" % n for n in exclusions)
        argv = [uv, 'pip', 'compile', reqs] + (['--override', over] if overrides or exclusions else [])
        argv += ['--generate-hashes', '--no-header', '--python-version', args.python, '--python-platform', args.platform,
                 '--index-url', settings.get('secretflow_index_url') or 'https://pypi.org/simple', '-o', out]
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        with open(out) as f:
            body = f.read()
    finally:
        shutil.rmtree(work)
    text = (lock.header(packages, overrides, exclusions, args.python, args.platform)
            + '# Compiled by scripts/lock.py (uv pip compile --generate-hashes); installed with --require-hashes.\n'
            + body)
    found = lock.problems(text, packages, overrides, exclusions)
    if found:
        sys.exit('lock.py: the compiled lock does not fit its package set: %s' % '; '.join(found))
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, 'w') as f:
        f.write(text)
    count = len(lock.parse(text)['pins'])
    print('%s: %d distributions, inputs %s' % (args.output, count, lock.digest(packages, overrides, exclusions)))


if __name__ == '__main__':
    main()
