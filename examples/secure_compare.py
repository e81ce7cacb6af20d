"""Secure sum and comparison of the parties' private numbers (Yao's millionaires, in SPU).

Each party's numbers are produced inside that party's PYU, on that party's hosts; only
secret shares reach the SPU, and only two answers are revealed:

  * ``total``: the sum of everybody's numbers;
  * ``richest``: the party whose own sum is largest.

Job arguments (``sf_job`` ``args``):
  values: {party: [integers]}   each party's private input (demo data).

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
    parties = sorted(ctx.args['values'])
    unknown = [p for p in parties if p not in ctx.pyu]
    if unknown:
        raise ValueError('values given for parties outside the federation: %s' % unknown)
    # Each reference below points at data that stays with its owner until SPU shares it.
    private = [ctx.pyu[p](_party_input)(ctx.args['values'][p]) for p in parties]
    answers = ctx.spu(_secure_answers)(*[v.to(ctx.spu) for v in private])
    total, richest = ctx.sf.reveal(answers).tolist()
    return {'total': int(total), 'richest': parties[int(richest)]}
