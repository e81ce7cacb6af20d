"""Every role default is documented in meta/argument_specs.yml, and every spec'd option has a default."""
import glob
import os

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLES = sorted(os.path.basename(os.path.dirname(p)) for p in glob.glob(os.path.join(ROOT, 'roles', '*', 'defaults')))


def _load(role, path):
    with open(os.path.join(ROOT, 'roles', role, path)) as f:
        return yaml.safe_load(f) or {}


@pytest.mark.parametrize('role', ROLES)
def test_defaults_and_specs_agree(role):
    defaults = _load(role, 'defaults/main.yml')
    options = _load(role, 'meta/argument_specs.yml')['argument_specs']['main']['options']
    assert sorted(set(defaults) - set(options)) == [], 'defaults missing from argument_specs'
    assert sorted(set(options) - set(defaults)) == [], 'argument_specs options without a default'
    for name, spec in options.items():
        assert spec.get('description'), '%s has no description' % name
        if 'default' not in spec and spec.get('type') != 'str' and '{{' in str(defaults[name]):
            # A templated default of a typed option (a list of ints): the docs tools would read the
            # template as a value of the wrong type, so the description states it instead.
            assert 'Default' in str(spec['description']), '%s: state the templated default in its description' % name
            continue
        assert spec.get('default') == defaults[name], '%s: spec default %r != defaults/main.yml %r' % (
            name, spec.get('default'), defaults[name])


@pytest.mark.parametrize('role', ROLES)
def test_public_variables_carry_the_role_prefix(role):
    for name in _load(role, 'defaults/main.yml'):
        assert name.startswith(role + '_'), name
