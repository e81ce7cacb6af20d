"""Every module's documentation reads as text where text is due: a description line holding ': '
is a YAML mapping, which ansible-doc refuses (run Z: sf_tls_trust), and only the suite's
ansible-doc step, minutes into a run, would say so."""
import ast
import glob
import os

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULES = sorted(glob.glob(os.path.join(ROOT, 'plugins', 'modules', '*.py')))


def _docs(path):
    """The module's DOCUMENTATION and RETURN, read as YAML."""
    with open(path) as f:
        tree = ast.parse(f.read())
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], 'id', None) in ('DOCUMENTATION', 'RETURN'):
            found[node.targets[0].id] = yaml.safe_load(node.value.value) or {}
    return found


def _texts_wrong(spec, where):
    """Each description (and short_description) that is not a string or a list of strings."""
    wrong = []
    for key in ('description', 'short_description'):
        value = spec.get(key)
        if value is not None and not (isinstance(value, str)
                                      or isinstance(value, list) and all(isinstance(v, str) for v in value)):
            wrong.append('%s %s: %r' % (where, key, value))
    for name, sub in (spec.get('options') or spec.get('suboptions') or spec.get('contains') or {}).items():
        wrong += _texts_wrong(sub, '%s.%s' % (where, name))
    return wrong


@pytest.mark.parametrize('path', MODULES, ids=os.path.basename)
def test_descriptions_are_text(path):
    docs = _docs(path)
    assert 'DOCUMENTATION' in docs, path
    wrong = _texts_wrong(docs['DOCUMENTATION'], 'DOCUMENTATION')
    for name, spec in (docs.get('RETURN') or {}).items():
        wrong += _texts_wrong(spec, 'RETURN.%s' % name)
    assert wrong == []


def test_the_check_finds_a_description_read_as_a_mapping():
    # The line run Z failed on, as it was.
    spec = yaml.safe_load('description:\n  - Certificates are public: with C(--diff) the old and new text are shown.\n')
    assert _texts_wrong(spec, 'DOCUMENTATION') != []
