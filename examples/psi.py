"""Private set intersection (PSI) between two parties of the federation, on files that live on
each party's own head and never leave it.

SecretFlow's PSI runs on an SPU device of exactly two parties, so a federation of three or more
needs a named device for it (``federation_spu_devices``, set for the whole federation):

    federation_spu_devices:
      psi: {parties: [alice, bob]}

Each party names its own input file in its private arguments (``job_party_args``, set per party:
group_vars/<party>.yml or the institution's own inventory); in production only that party's head
knows the path:

    job_party_args: {psi_input: /srv/data/customers.csv}

Shared arguments (``job_args``, the same for everyone; all optional):
  * ``psi_device``: the device's name (default ``psi``);
  * ``psi_key``: the key column both files have (default ``id``);
  * ``psi_receiver``: the party that receives the intersection (default: the device's first party);
  * ``psi_protocol``: SecretFlow's PSI protocol (default ``PROTOCOL_RR22``; ``PROTOCOL_ECDH``,
    ``PROTOCOL_KKRT``);
  * ``psi_demo``: ``{party: [ids]}``: write these ids as each party's input file first (on that
    party's head, at its ``psi_input``), for a demonstration without data of your own.

Each party's intersection is written next to its input (``<input>.psi.csv``, or
``job_party_args.psi_output``). The job's result is each party's row count and the intersection
size, which the parties learn anyway; no id is revealed to the driver.
"""


def _write_ids(path, key, ids):
    import os

    os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    with open(path, 'w') as f:
        f.write('%s,row\n' % key)
        for i, value in enumerate(ids):
            f.write('%s,%d\n' % (value, i))
    return path


def main(ctx):
    name = ctx.args.get('psi_device', 'psi')
    if name not in ctx.spus:
        raise ValueError('no SPU device %r: define it in federation_spu_devices (two parties)' % name)
    spu = ctx.spus[name]
    parties = sorted(spu.actors)
    key = ctx.args.get('psi_key', 'id')
    receiver = ctx.args.get('psi_receiver', parties[0])
    # A driver knows only its own party's paths in production; the other party's entry is never read
    # here (each party's part of the PSI runs on that party's side, with its own path).
    inputs, outputs = {}, {}
    for p in parties:
        own = ctx.party_args.get(p) or {}
        inputs[p] = own.get('psi_input', '(private to %s)' % p)
        outputs[p] = own.get('psi_output', inputs[p] + '.psi.csv')
    demo = ctx.args.get('psi_demo')
    if demo:
        # Every driver makes the same calls (RayFed's rule); each runs only on its party's side.
        written = [ctx.pyu[p](_write_ids)(inputs[p], key, demo[p]) for p in parties]
        ctx.sf.wait(written)
    reports = spu.psi(keys={p: [key] for p in parties}, input_path=inputs, output_path=outputs,
                      receiver=receiver, table_keys_duplicated={p: False for p in parties},
                      protocol=ctx.args.get('psi_protocol', 'PROTOCOL_RR22'), ecdh_curve='CURVE_25519')
    by_party = dict((r['party'], r) for r in reports)
    return {
        'device': name,
        'parties': parties,
        'rows': dict((p, int(by_party[p]['original_count'])) for p in parties),
        'intersection': int(by_party[receiver]['intersection_count']),
    }
