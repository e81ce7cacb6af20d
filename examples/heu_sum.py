"""Homomorphic sum on a named HEU device: the evaluator adds the key holder's numbers to its own
without ever seeing them in clear, and only the key holder can read the sum.

Define the device once, for the whole federation (``federation_heu_devices``):

    federation_heu_devices:
      heu: {sk_keeper: alice, evaluators: [bob], schema: paillier, key_size: 2048}

Each party's numbers come from its private arguments (``job_party_args: {heu_values: [..]}``, set
per party) or, for a demonstration, from ``job_args: {heu_values: {party: [..]}}`` (everyone sees
those). Shared argument ``heu_device`` names the device (default ``heu``).

What moves: the key holder's numbers are encrypted on its side and sent to the evaluator as
ciphertexts; the evaluator adds its own (encrypted with the key holder's public key) and sends the
encrypted sum back; the key holder decrypts it. The job's result is that sum.
"""


def _numbers(values):
    import numpy as np

    return np.asarray(values, dtype=np.float32)


def main(ctx):
    heu = ctx.heus[ctx.args.get('heu_device', 'heu')]
    keeper = heu.sk_keeper_name()
    evaluator = list(heu.evaluator_names())[0]
    shared = ctx.args.get('heu_values') or {}
    values = {}
    for p in (keeper, evaluator):
        own = (ctx.party_args.get(p) or {}).get('heu_values')
        # A driver that does not know a party's private numbers passes a placeholder that is never
        # read on its side (that party's part runs on that party's side, with its own numbers).
        values[p] = own if own is not None else shared.get(p, [0.0])
    encrypted = [ctx.pyu[p](_numbers)(values[p]).to(heu) for p in (keeper, evaluator)]
    total = encrypted[0] + encrypted[1]  # computed by the evaluator, on ciphertexts
    clear = ctx.sf.reveal(total.to(ctx.pyu[keeper]))  # decrypted by the key holder
    return {'device': 'heu', 'sk_keeper': keeper, 'evaluator': evaluator,
            'sum': [round(float(v), 3) for v in clear]}
