# -*- coding: utf-8 -*-
# Copyright: sfdeploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A node's firewall rules (the topology's ``firewall`` entry: [{name, ports: [[low, high]],
sources: [addresses]}]) as each backend states them, and what a backend has loaded compared
with them.

Pure Python with no Ansible imports (filters and unit tests use it).
"""

from __future__ import annotations

import json
import re


def span(low, high, sep='-'):
    return str(low) if low == high else '%d%s%d' % (low, sep, high)


def rule_pairs(rules, style=None):
    """One entry per port range and source of ``rules``: [[low, high], source] pairs, or with
    ``style='firewalld'`` the rich rule of each pair, as firewalld lists it."""
    pairs = [[list(ports), source] for rule in rules for ports in rule['ports'] for source in rule['sources']]
    if style is None:
        return pairs
    if style == 'firewalld':
        return [firewalld_rich_rule(ports, source) for ports, source in pairs]
    raise ValueError('firewall_rule_pairs: unknown style %r (firewalld)' % (style,))


def ufw_rules(rules):
    """ufw's rules for ``rules``, in the order they must take effect: ('allow', source, port) for
    each pair, then ('deny', 'any', port) for each port range (ufw takes the first match)."""
    allows = [('allow', source, span(ports[0], ports[1], ':')) for ports, source in rule_pairs(rules)]
    denies = [('deny', 'any', span(low, high, ':')) for rule in rules for low, high in rule['ports']]
    return allows + denies


def ufw_args(rule):
    """The ufw command-line words that state ``rule`` (an entry of ufw_rules)."""
    action, source, port = rule
    return [action, 'from', source, 'to', 'any', 'port', port, 'proto', 'tcp']


UFW_ADDED = re.compile(r"^ufw (allow|deny) (?:from (\S+) to any port (\S+) proto tcp|(\S+)/tcp|proto tcp to any port (\S+))"
                       r"(?: comment '.*')?$")


def ufw_added(text):
    """The tcp rules of ``ufw show added``, in ufw's order, as ufw_rules states them."""
    out = []
    for line in (text or '').splitlines():
        match = UFW_ADDED.match(line.strip())
        if match:
            action, source, port, port_any, port_any2 = match.groups()
            out.append((action, source or 'any', port or port_any or port_any2))
    return out


def filtered_ports(ports, rules):
    """The ports of ``ports`` that fall in a port range of ``rules`` (sorted, each once): for a
    management port, the firewall would filter its connection."""
    return sorted(set(int(p) for p in ports
                      for rule in rules for low, high in rule['ports'] if int(low) <= int(p) <= int(high)))


def is_ipv6(address):
    return ':' in address


def firewalld_rich_rule(ports, source):
    """The rich rule that lets ``source`` in on ``ports`` ([low, high]), as firewalld lists it."""
    return ('rule family="%s" source address="%s" port port="%s" protocol="tcp" accept'
            % ('ipv6' if is_ipv6(source) else 'ipv4', source, span(ports[0], ports[1])))


def _covered(wanted, loaded):
    """Whether every [low, high] of ``wanted`` lies inside one of ``loaded``."""
    return all(any(lo <= low and high <= hi for lo, hi in loaded) for low, high in wanted)


def _nft_ports(right):
    """Port ranges of an nft JSON match's right-hand side (a port, a range, or a set of both)."""
    items = right.get('set', [right]) if isinstance(right, dict) else [right]
    out = []
    for item in items:
        if isinstance(item, int):
            out.append((item, item))
        elif isinstance(item, dict) and 'range' in item:
            out.append(tuple(item['range']))
    return out


def nft_problems(text, rules, table):
    """What is wrong with the loaded table (``nft -j list table inet TABLE`` output) compared with
    ``rules``: [] when it is loaded, drops every port from others and lets exactly the sources in."""
    try:
        objects = list(json.loads(text).get('nftables', []))
    except (TypeError, ValueError, AttributeError):
        return ['its nftables table %s is not loaded' % table]
    sets = {}
    drops = {}
    for obj in objects:
        if 'set' in obj:
            elem = obj['set'].get('elem', [])
            sets[obj['set']['name']] = sorted(elem if isinstance(elem, list) else [elem])
        elif 'rule' in obj:
            rule = obj['rule']
            verdict_drop = any('drop' in e for e in rule.get('expr', []))
            comment = rule.get('comment', '')
            if verdict_drop and comment.startswith('sfdeploy '):
                ports = []
                for e in rule['expr']:
                    match = e.get('match', {})
                    if match.get('left', {}).get('payload', {}).get('field') == 'dport':
                        ports.extend(_nft_ports(match['right']))
                drops[comment[len('sfdeploy '):]] = ports
    if not any('table' in o for o in objects):
        return ['its nftables table %s is not loaded' % table]
    problems = []
    for rule in rules:
        wanted = [tuple(p) for p in rule['ports']]
        if not _covered(wanted, drops.get(rule['name'], [])):
            problems.append('%s ports %s are not closed to others (table %s)'
                            % (rule['name'], ', '.join(span(*p) for p in wanted), table))
        for family, keep in (('v4', lambda a: not is_ipv6(a)), ('v6', is_ipv6)):
            want = sorted(a for a in rule['sources'] if keep(a))
            have = sets.get('%s_%s' % (rule['name'], family))
            if have is None or have != want:
                problems.append('%s ports accept %s instead of %s (table %s)'
                                % (rule['name'], ', '.join(have or []) or 'nobody', ', '.join(want) or 'nobody', table))
    return problems


def firewalld_problems(text, rules):
    """Rich rules (``firewall-cmd --list-rich-rules``) missing for ``rules``."""
    loaded = set(' '.join(line.split()) for line in (text or '').splitlines())
    missing = [firewalld_rich_rule(ports, source) for ports, source in rule_pairs(rules)
               if firewalld_rich_rule(ports, source) not in loaded]
    return ['firewalld lacks the rich rule: %s' % rule for rule in missing]


UFW_LINE = re.compile(r'^(\d+(?::\d+)?)/tcp(?: \(v6\))?\s+(ALLOW|DENY)(?: IN)?\s+(\S+)')


def ufw_problems(text, rules):
    """Allow and deny rules (``ufw status``) missing for ``rules``, or in the wrong order (ufw
    takes the first match, so an allow listed after the deny of its ports lets nobody in)."""
    first = {}
    for index, line in enumerate((text or '').splitlines()):
        match = UFW_LINE.match(line.strip())
        if match:
            port, action, source = match.groups()
            first.setdefault((action, port, source), index)
    problems = []
    for ports, source in rule_pairs(rules):
        port = span(ports[0], ports[1], ':')
        allow, deny = first.get(('ALLOW', port, source)), first.get(('DENY', port, 'Anywhere'))
        if allow is None:
            problems.append('ufw does not allow %s on %s' % (source, port))
        elif deny is not None and deny < allow:
            problems.append('ufw denies %s before it allows %s' % (port, source))
    for rule in rules:
        for ports in rule['ports']:
            port = span(ports[0], ports[1], ':')
            if ('DENY', port, 'Anywhere') not in first:
                problems.append('ufw does not deny others on %s' % port)
    return problems


def problems(backend, text, rules, table):
    """What is wrong with the rules ``backend`` has loaded (``text`` is its listing); [] when they
    cover ``rules``."""
    if backend == 'none':
        return []
    if backend == 'nftables':
        return nft_problems(text, rules, table)
    if backend == 'firewalld':
        return firewalld_problems(text, rules)
    if backend == 'ufw':
        return ufw_problems(text, rules)
    return ['unknown firewall backend %s' % backend]
