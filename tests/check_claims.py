"""Checks tests/claims.yml, the map from the README's claims to the tests that prove them:
every listed test exists (its file, its function - a shell function for a step of
scripts/test.sh - and for a parametrized case the case's name in that file), every claim names a README section that exists and has tests or a gap.

    python tests/check_claims.py      (run by scripts/test.sh)
"""
import ast
import os
import re
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def functions(path):
    with open(path) as f:
        source = f.read()
    if path.endswith('.sh'):  # a step of the suite (scripts/test.sh): a shell function
        return set(re.findall(r'^(\w+)\(\) \{', source, re.M)), source
    tree = ast.parse(source)
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}, source


def problems(claims, readme, root=ROOT):
    sections = set(re.findall(r'^#{2,3} (.+?)\s*$', readme, re.M))
    out = []
    for i, c in enumerate(claims):
        label = 'claim %d (%s)' % (i + 1, c.get('claim', '?'))
        if not c.get('claim') or not c.get('section'):
            out.append('%s: needs claim and section' % label)
        elif c['section'] not in sections:
            out.append('%s: no README section "%s"' % (label, c['section']))
        if not c.get('tests') and not c.get('gap'):
            out.append('%s: lists no test and no gap' % label)
        for test in c.get('tests') or []:
            m = re.match(r'^([^:]+)::(\w+)(?:\[(.+)\])?$', test)
            if not m:
                out.append('%s: %s is not path::function[case]' % (label, test))
                continue
            path, func, case = m.groups()
            full = os.path.join(root, path)
            if not os.path.isfile(full):
                out.append('%s: %s: no such file' % (label, test))
                continue
            names, source = functions(full)
            if func not in names:
                out.append('%s: %s: no function %s in %s' % (label, test, func, path))
            elif case and ("'%s'" % case not in source and '"%s"' % case not in source):
                out.append('%s: %s: no case "%s" in %s' % (label, test, case, path))
    return out


def main():
    with open(os.path.join(ROOT, 'tests', 'claims.yml')) as f:
        claims = yaml.safe_load(f)['claims']
    with open(os.path.join(ROOT, 'README.md')) as f:
        readme = f.read()
    found = problems(claims, readme)
    for p in found:
        print(p)
    tests = sum(len(c.get('tests') or []) for c in claims)
    gaps = sum(1 for c in claims if c.get('gap'))
    print('%d claims, %d tests, %d with a gap still open; %d problems' % (len(claims), tests, gaps, len(found)))
    return 1 if found else 0


if __name__ == '__main__':
    sys.exit(main())
