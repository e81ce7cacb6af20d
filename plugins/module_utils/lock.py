# -*- coding: utf-8 -*-
# Copyright: sfdeploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A package lock: ``uv pip compile --generate-hashes`` output for one package set, with a first
line of sfdeploy's own that names what it was compiled from::

    # sfdeploy-lock: inputs=<digest> python=3.11 platform=x86_64-manylinux_2_28

``inputs`` is the digest of the package set (packages, overrides, exclusions) as the secretflow
role's variables state it, so that a lock compiled for another set is refused by name.

Pure Python with no Ansible imports (filters, modules, scripts/lock.py and unit tests use it).
"""

from __future__ import annotations

import hashlib
import json
import re

HEADER = '# sfdeploy-lock:'
PIN = re.compile(r'^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^]]*\])?==([^ ;\\]+)')
HASH = re.compile(r'--hash=sha256:([0-9a-f]+)')


def digest(packages, overrides, exclusions):
    """The digest of a package set: the same set in any order gives the same digest."""
    canon = json.dumps({'packages': sorted(packages or []), 'overrides': sorted(overrides or []),
                        'exclusions': sorted(exclusions or [])}, sort_keys=True)
    return hashlib.sha256(canon.encode('utf-8')).hexdigest()[:16]


def header(packages, overrides, exclusions, python, platform):
    return '%s inputs=%s python=%s platform=%s\n' % (
        HEADER, digest(packages, overrides, exclusions), python, platform)


def normalize(name):
    return re.sub(r'[-_.]+', '-', name).lower()


def parse(text):
    """{inputs, python, platform, pins: {normalized name: version}, hashes: {normalized name: set
    of sha256}, hashed: bool} of a lock's text, pins in the lock's order; inputs is None when the
    sfdeploy line is missing."""
    info = {'inputs': None, 'python': None, 'platform': None, 'pins': {}, 'hashes': {}, 'hashed': False}
    current = None
    for line in (text or '').splitlines():
        if line.startswith(HEADER):
            for word in line[len(HEADER):].split():
                key, _sep, value = word.partition('=')
                if key in ('inputs', 'python', 'platform'):
                    info[key] = value
            continue
        match = PIN.match(line)
        if match:
            current = normalize(match.group(1))
            info['pins'][current] = match.group(2)
            info['hashes'][current] = set()
        else:
            found = HASH.search(line)
            if found and current is not None:
                info['hashes'][current].add(found.group(1))
                info['hashed'] = True
    return info


def problems(text, packages, overrides, exclusions):
    """Why a lock does not fit the package set ([] when it does)."""
    info = parse(text)
    out = []
    if not info['pins']:
        out.append('it pins no package')
    if not info['hashed']:
        out.append('it has no hashes (compile it with scripts/lock.py, which asks uv for them)')
    if info['inputs'] is None:
        out.append('it lacks the line "%s inputs=..." that scripts/lock.py writes' % HEADER)
    elif info['inputs'] != digest(packages, overrides, exclusions):
        out.append('it was compiled for another package set (inputs %s; secretflow_packages, secretflow_overrides '
                   'and secretflow_exclusions give %s)' % (info['inputs'], digest(packages, overrides, exclusions)))
    for req in packages or []:
        match = PIN.match(req)
        if match and info['pins'].get(normalize(match.group(1))) not in (None, match.group(2)):
            out.append('it pins %s==%s, secretflow_packages asks for %s'
                       % (match.group(1), info['pins'][normalize(match.group(1))], match.group(2)))
    return out
