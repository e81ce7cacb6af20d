"""The package lock: what it records, and when the preflight refuses it."""
import os

import yaml

from ansible_collections.sfdeploy.secretflow.plugins.module_utils import lock

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGES = ['secretflow==1.11.0b1', 'ray==2.9.3']
TEXT = (lock.header(PACKAGES, ['sdc-sdk==0.1.0b0'], ['torch'], '3.11', 'x86_64-manylinux_2_28')
        + 'ray==2.9.3 \\\n    --hash=sha256:aa\n    # via secretflow\n'
        + 'secretflow==1.11.0b1 \\\n    --hash=sha256:bb\n'
        + 'secretflow-rayfed==0.2.1a2 \\\n    --hash=sha256:cc\n')


def test_a_lock_records_its_set_and_pins():
    info = lock.parse(TEXT)
    assert info['python'] == '3.11' and info['platform'] == 'x86_64-manylinux_2_28' and info['hashed']
    assert info['pins'] == {'ray': '2.9.3', 'secretflow': '1.11.0b1', 'secretflow-rayfed': '0.2.1a2'}
    # The same set in another order is the same set.
    assert lock.digest(PACKAGES[::-1], ['sdc-sdk==0.1.0b0'], ['torch']) == info['inputs']


def test_a_lock_for_another_set_is_refused_naming_why():
    assert lock.problems(TEXT, PACKAGES, ['sdc-sdk==0.1.0b0'], ['torch']) == []
    other = ['secretflow==1.11.0b0', 'ray==2.9.3']
    found = lock.problems(TEXT, other, ['sdc-sdk==0.1.0b0'], ['torch'])
    assert found[0].startswith('it was compiled for another package set') and \
        'it pins secretflow==1.11.0b1, secretflow_packages asks for 1.11.0b0' in found
    assert lock.problems(TEXT, PACKAGES, ['sdc-sdk==0.1.0b0'], []) != []  # the exclusions are part of the set
    unhashed = TEXT.replace('    --hash=sha256:aa\n', '').replace('    --hash=sha256:bb\n', '').replace(
        '    --hash=sha256:cc\n', '')
    assert any('no hashes' in p for p in lock.problems(unhashed, PACKAGES, ['sdc-sdk==0.1.0b0'], ['torch']))
    bare = TEXT.split('\n', 1)[1]
    assert any('lacks the line' in p for p in lock.problems(bare, PACKAGES, ['sdc-sdk==0.1.0b0'], ['torch']))
    assert 'it pins no package' in lock.problems('', PACKAGES, [], [])


def test_the_shipped_lock_fits_the_role_defaults():
    """Changing the default package set without compiling its lock (scripts/lock.py) fails here."""
    with open(os.path.join(ROOT, 'roles', 'secretflow', 'defaults', 'main.yml')) as f:
        defaults = yaml.safe_load(f)
    with open(os.path.join(ROOT, 'roles', 'secretflow', 'files', 'default.lock')) as f:
        text = f.read()
    assert lock.problems(text, defaults['secretflow_packages'], defaults['secretflow_overrides'],
                         defaults['secretflow_exclusions']) == []
    pins = lock.parse(text)['pins']
    assert not set(defaults['secretflow_exclusions']) & set(pins), 'an excluded package is in the lock'
