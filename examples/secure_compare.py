"""Secure sum and comparison of the parties' private numbers (Yao's millionaires, in SPU).

Each party's numbers are produced inside that party's PYU, on that party's hosts; only
secret shares reach the SPU, and only two answers are revealed:

  * ``total``: the sum of everybody's numbers;
  * ``richest``: the party whose own sum is largest.

Each party's input, in this order of preference:
  * its private arguments (``job_party_args: {values: [integers]}``, set per party): in
    production they exist only on that party's head, and only that party's driver reads them;
  * the shared arguments (``job_args: {values: {party: [integers]}}``, demo data everybody sees);
  * otherwise party number i (in ctx.parties order, from 0) holds [10 * (i + 1), i + 1].

The plaintext answer is easy to check by hand, which is what the tests do.
"""


def _party_input(values):
    import numpy as np

    return np.asarray(values, dtype=np.int64)


def _secure_answers(*vectors):
    import jax.numpy as jnp

    sums = jnp.stack([jnp.sum(v) for v in vectors])
    return jnp.stack([jnp.sum(sums), jnp.argmax(sums)])


def _inputs(ctx):
    """party -> its input, as far as this driver knows it. Every driver takes part with the same
    parties (those of the shared values, or all); in production a driver knows only its own
    party's private input, and the others' entries are never used here (each party's part of the
    program runs on that party's side, with that party's own input)."""
    shared = ctx.args.get('values')
    if shared is not None:
        unknown = [p for p in shared if p not in ctx.pyu]
        if unknown:
            raise ValueError('values given for parties outside the federation: %s' % unknown)
    inputs = {}
    for p in sorted(shared) if shared is not None else ctx.parties:
        own = (ctx.party_args.get(p) or {}).get('values')
        if own is not None:
            inputs[p] = own
        elif shared is not None:
            inputs[p] = shared[p]
        else:
            inputs[p] = [10 * (ctx.parties.index(p) + 1), ctx.parties.index(p) + 1]
    return inputs


def main(ctx):
    values = _inputs(ctx)
    parties = sorted(values)
    # Each reference below points at data that stays with its owner until SPU shares it.
    private = [ctx.pyu[p](_party_input)(values[p]) for p in parties]
    answers = ctx.spu(_secure_answers)(*[v.to(ctx.spu) for v in private])
    total, richest = ctx.sf.reveal(answers).tolist()
    return {'total': int(total), 'richest': parties[int(richest)]}
