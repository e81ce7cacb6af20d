"""Secure sum and comparison of the parties' private numbers (Yao's millionaires, in SPU).

Each party's numbers are produced inside that party's PYU, on that party's hosts; only
secret shares reach the SPU, and only two answers are revealed:

  * ``total``: the sum of everybody's numbers;
  * ``richest``: the party whose own sum is largest.

Job arguments (``sf_job`` ``args``):
  values: {party: [integers]}   each party's private input (demo data). Without it, party
                                number i (in ctx.parties order, from 0) holds [10 * (i + 1), i + 1].

The plaintext answer is easy to check by hand, which is what the tests do.
"""


def _party_input(values):
    import numpy as np

    return np.asarray(values, dtype=np.int64)


def _secure_answers(*vectors):
    import jax.numpy as jnp

    sums = jnp.stack([jnp.sum(v) for v in vectors])
    return jnp.stack([jnp.sum(sums), jnp.argmax(sums)])


def main(ctx):
    values = ctx.args.get('values') or {p: [10 * (i + 1), i + 1] for i, p in enumerate(ctx.parties)}
    parties = sorted(values)
    unknown = [p for p in parties if p not in ctx.pyu]
    if unknown:
        raise ValueError('values given for parties outside the federation: %s' % unknown)
    # Each reference below points at data that stays with its owner until SPU shares it.
    private = [ctx.pyu[p](_party_input)(values[p]) for p in parties]
    answers = ctx.spu(_secure_answers)(*[v.to(ctx.spu) for v in private])
    total, richest = ctx.sf.reveal(answers).tolist()
    return {'total': int(total), 'richest': parties[int(richest)]}
