"""module_utils/tls.py: each party's CA certificate from its head or its federation file entry,
and the export's entries with their CA certificates."""
import base64

from ansible_collections.sfdeploy.secretflow.plugins.module_utils.tls import ca_by_party, with_ca_certs

PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'
TOPOLOGY = {'parties': ['alice', 'bob', 'carol', 'dan'],
            'party_info': {'alice': {'head': 'a1'}, 'bob': {'head': 'b1'},
                           'carol': {'head': None, 'ca_cert': PEM}, 'dan': {'head': ''}}}


def test_ca_from_the_head_or_the_federation_file_or_unknown():
    hostvars = {'a1': {'__tls_ca_pem': {'content': base64.b64encode(PEM.encode()).decode()}},
                'b1': {'__tls_ca_pem': {'failed': True, 'msg': 'file not found'}}}
    assert ca_by_party(TOPOLOGY, hostvars) == {'alice': PEM, 'bob': '', 'carol': PEM, 'dan': ''}


def test_a_head_that_read_nothing_yet():
    assert ca_by_party(TOPOLOGY, {'a1': {}, 'b1': {}})['alice'] == ''


def test_export_entries_get_the_known_cas_only():
    entries = {'alice': {'address': '10.0.0.1', 'rayfed_port': 20008}, 'bob': {'address': '10.0.0.2'}}
    out = with_ca_certs(entries, {'alice': PEM, 'bob': ''})
    assert out == {'alice': {'address': '10.0.0.1', 'rayfed_port': 20008, 'ca_cert': PEM},
                   'bob': {'address': '10.0.0.2'}}
    assert 'ca_cert' not in entries['alice']  # the input is left as it was
