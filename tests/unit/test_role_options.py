"""The role_options lookup: every role's options merged, defaults left out (nested ones too)."""
import pytest
import yaml

from ansible.errors import AnsibleLookupError
from ansible_collections.sfdeploy.secretflow.plugins.lookup.role_options import role_options


def _role(tmp_path, name, options):
    meta = tmp_path / name / 'meta'
    meta.mkdir(parents=True)
    (meta / 'argument_specs.yml').write_text(yaml.safe_dump({'argument_specs': {'main': {'options': options}}}))


def test_options_are_merged_without_defaults(tmp_path):
    _role(tmp_path, 'ray', {'ray_num_cpus': {'type': 'int', 'default': '{{ ansible_processor_vcpus }}'}})
    _role(tmp_path, 'tls', {'tls_ca_mode': {'type': 'str', 'choices': ['party', 'shared'], 'default': 'party'},
                            'tls_user': {'type': 'dict', 'default': {}, 'options': {'cert': {'type': 'str',
                                                                                             'default': ''}}}})
    merged = role_options(['ray', 'tls'], str(tmp_path))
    assert merged == {'ray_num_cpus': {'type': 'int'},
                      'tls_ca_mode': {'type': 'str', 'choices': ['party', 'shared']},
                      'tls_user': {'type': 'dict', 'options': {'cert': {'type': 'str'}}}}


def test_a_role_without_a_spec_is_an_error_naming_it(tmp_path):
    with pytest.raises(AnsibleLookupError, match='role nope has no readable argument spec'):
        role_options(['nope'], str(tmp_path))


def test_the_collections_roles_all_have_options():
    merged = role_options(['python', 'secretflow', 'firewall', 'ray', 'tls', 'job', 'status'])
    assert 'ray_num_cpus' in merged and 'python_provider' in merged
    assert not any('default' in spec for spec in merged.values())
