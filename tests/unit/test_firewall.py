"""What a firewall has loaded compared with a node's rules (the status report's firewall column)."""
import json

from ansible_collections.sfdeploy.secretflow.plugins.module_utils import firewall

RULES = [{'name': 'ray', 'ports': [[20000, 20000], [20100, 20999]], 'sources': ['10.0.0.1', '10.0.0.3']},
         {'name': 'cross_silo', 'ports': [[20008, 20008], [20009, 20009]], 'sources': ['10.0.0.2']}]
TABLE = 'sfdeploy_a1'


def _set(name, elems):
    s = {'family': 'inet', 'name': name, 'table': TABLE, 'type': 'ipv4_addr'}
    if elems:
        s['elem'] = elems if len(elems) > 1 else elems[0]
    return {'set': s}


def _drop(name, right):
    return {'rule': {'family': 'inet', 'table': TABLE, 'chain': 'input', 'comment': 'sfdeploy ' + name, 'expr': [
        {'match': {'op': '==', 'left': {'payload': {'protocol': 'tcp', 'field': 'dport'}}, 'right': right}},
        {'counter': {'packets': 0, 'bytes': 0}}, {'drop': None}]}}


def listing(ray_sources=('10.0.0.1', '10.0.0.3'), ray_ports=None):
    """`nft -j list table` as nftables 1.0.6 prints it (a one-element set is not a list)."""
    ray_ports = ray_ports or {'set': [20000, {'range': [20100, 20999]}]}
    return json.dumps({'nftables': [
        {'metainfo': {'version': '1.0.6'}}, {'table': {'family': 'inet', 'name': TABLE}},
        _set('ray_v4', list(ray_sources)), {'set': {'name': 'ray_v6', 'type': 'ipv6_addr'}},
        _set('cross_silo_v4', ['10.0.0.2']), {'set': {'name': 'cross_silo_v6', 'type': 'ipv6_addr'}},
        _drop('ray', ray_ports), _drop('cross_silo', {'set': [20008, 20009]})]})


def test_a_table_as_written_has_no_problem():
    assert firewall.problems('nftables', listing(), RULES, TABLE) == []


def test_a_missing_table_is_a_problem():
    assert firewall.problems('nftables', '', RULES, TABLE) == ['its nftables table sfdeploy_a1 is not loaded']


def test_ports_left_open_and_wrong_sources_are_problems():
    found = firewall.problems('nftables', listing(ray_sources=['10.0.0.1'], ray_ports=20000), RULES, TABLE)
    assert found == ['ray ports 20000, 20100-20999 are not closed to others (table sfdeploy_a1)',
                     'ray ports accept 10.0.0.1 instead of 10.0.0.1, 10.0.0.3 (table sfdeploy_a1)']


def test_firewalld_and_ufw_listings():
    pairs = firewall.rule_pairs(RULES)
    assert len(pairs) == 6 and [[20100, 20999], '10.0.0.3'] in pairs
    # What the role writes (the filter's styles) is what the status check finds complete.
    rich = '\n'.join(firewall.rule_pairs(RULES, 'firewalld'))
    assert firewall.problems('firewalld', rich, RULES, TABLE) == []
    assert firewall.problems('firewalld', rich.split('\n', 1)[1], RULES, TABLE) == [
        'firewalld lacks the rich rule: rule family="ipv4" source address="10.0.0.1" port port="20000" '
        'protocol="tcp" accept']
    header = ['Status: active', '', 'To                         Action      From', '--                         ------      ----']
    listed = ['%-26s %-11s %-26s # sfdeploy' % (port + '/tcp', action.upper(), 'Anywhere' if src == 'any' else src)
              for action, src, port in firewall.ufw_rules(RULES)]
    assert firewall.problems('ufw', '\n'.join(header + listed), RULES, TABLE) == []
    assert firewall.problems('ufw', '\n'.join(header + listed[:-1]), RULES, TABLE) == ['ufw does not deny others on 20009']
    # ufw takes the first match: an allow listed after the deny of its ports lets nobody in.
    moved = listed[1:] + listed[:1]
    assert firewall.problems('ufw', '\n'.join(header + moved), RULES, TABLE) == ['ufw denies 20000 before it allows 10.0.0.1']


def test_ufw_show_added_reads_back_as_the_rules_the_module_writes():
    # What `ufw show added` prints for the rules sf_host_firewall adds (ufw 0.36, Debian 12).
    text = """Added user rules (see 'ufw status' for running firewall):
ufw allow from 10.0.0.1 to any port 20000 proto tcp comment 'sfdeploy'
ufw allow from 10.0.0.3 to any port 20100:20999 proto tcp comment 'sfdeploy'
ufw deny 20000/tcp comment 'sfdeploy'
ufw allow 22/tcp
ufw deny from 10.9.9.9 to any port 80 proto udp"""
    assert firewall.ufw_added(text) == [('allow', '10.0.0.1', '20000'), ('allow', '10.0.0.3', '20100:20999'),
                                        ('deny', 'any', '20000'), ('allow', 'any', '22')]
    deny = ['deny', 'from', 'any', 'to', 'any', 'port', '20000', 'proto', 'tcp']
    assert firewall.ufw_args(('deny', 'any', '20000')) == deny
    rules = firewall.ufw_rules(RULES)
    assert [r[0] for r in rules] == ['allow'] * 6 + ['deny'] * 4


def test_no_backend_has_no_problem():
    assert firewall.problems('none', '', RULES, TABLE) == []


def test_filtered_ports_are_those_inside_a_rule_range():
    rules = [{'name': 'ray', 'ports': [[20000, 20007], [20100, 20999]], 'sources': ['10.0.0.1']},
             {'name': 'rayfed', 'ports': [[20008, 20008]], 'sources': ['10.0.0.2']}]
    assert firewall.filtered_ports([22, 20008, 20500, 20500, 21000], rules) == [20008, 20500]
    assert firewall.filtered_ports(['22'], rules) == []
