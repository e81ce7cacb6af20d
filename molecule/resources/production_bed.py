"""The production test bed's layout (molecule/production/molecule.yml), for its tests: which
inventory host is on which machine, in which party, with which port block."""

# inventory host -> (party, address, party head?, first port of its block)
NODES = {
    'prod-alice-1': ('alice', '10.211.2.11', True, 20000),
    'prod-bob': ('bob', '10.211.2.21', True, 20000),       # \ one machine, prod-shared
    'prod-carol': ('carol', '10.211.2.21', True, 21000),   # / (two inventory hosts, one address)
    'prod-carol-2': ('carol', '10.211.2.32', False, 21000),
}
HEADS = {party: name for name, (party, address, head, base) in NODES.items() if head}
# A machine -> the inventory host that reaches it (mallory is in no party).
MACHINES = {'prod-alice-1': 'prod-alice-1', 'prod-shared': 'prod-bob',
            'prod-carol-2': 'prod-carol-2', 'prod-mallory': 'prod-mallory'}
MACHINE_OF = {'prod-alice-1': 'prod-alice-1', 'prod-bob': 'prod-shared',
              'prod-carol': 'prod-shared', 'prod-carol-2': 'prod-carol-2'}
# molecule.yml: each party's private job arguments (job_party_args), with a marker to look for.
VALUES = {'alice': [11, 22, 33], 'bob': [40, 25], 'carol': [70]}
PRIVATE = {'alice': 'alice-private-3e7d', 'bob': 'bob-private-91c0', 'carol': 'carol-private-5ab2'}
# molecule.yml: the named SPU device psi (bob and carol) and each one's PSI input file, on its head.
PSI_INPUT = {'bob': '/srv/bob-data/customers.csv', 'carol': '/var/lib/carol-data/ids.csv'}
PSI_OFFSET = 20  # the first named device's port inside the block (README, "Ports")


def party_args(party):
    """molecule.yml's job_party_args of a party."""
    args = {'values': VALUES[party], 'marker': PRIVATE[party]}
    if party in PSI_INPUT:
        args['psi_input'] = PSI_INPUT[party]
    return args


# Offsets inside a block (README, "Ports").
HEAD_RAY_OFFSETS = [0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 100, 500, 999]
WORKER_RAY_OFFSETS = [1, 2, 4, 5, 6, 7, 100, 999]
SILO_OFFSETS = {'rayfed': 8, 'spu': 9}
TLS = '/etc/sfdeploy/tls/%s'


def env(party):
    """A party's Python environment (the python role's default: one per party)."""
    return '/opt/sfdeploy/envs/%s' % party


def port(name, offset):
    return NODES[name][3] + offset


def silo_port(party, service):
    return port(HEADS[party], SILO_OFFSETS[service])


def ray_targets(names):
    """address:port of every Ray port of these nodes."""
    out = []
    for n in names:
        party, address, head, base = NODES[n]
        out += ['%s:%d' % (address, base + o) for o in (HEAD_RAY_OFFSETS if head else WORKER_RAY_OFFSETS)]
    return out


def silo_targets(parties):
    return ['%s:%d' % (NODES[HEADS[p]][1], silo_port(p, s)) for p in parties for s in SILO_OFFSETS]


def plaintext_answer():
    sums = {p: sum(v) for p, v in VALUES.items()}
    return {'total': sum(sums.values()), 'richest': max(sums, key=sums.get)}
