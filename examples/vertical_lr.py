"""A vertical logistic regression trained in SPU (SecretFlow's SS-SGD) on data split by columns
between two parties: the first party holds some features and the label, the second the other
features. No party sees the other's columns; only the model's accuracy on the training rows is
revealed.

The data is synthetic, for a demonstration: each party generates only its own columns, on its own
side, from a seed both know (``job_args.lr_seed``); a real job reads each party's file from its
private arguments instead (see examples/psi.py for that pattern).

Shared arguments (``job_args``, all optional):
  * ``lr_spu``: a named SPU device of two parties (``federation_spu_devices``); default ``ctx.spu``;
  * ``lr_parties``: [label holder, other party] (default: the device's parties, in order);
  * ``lr_rows`` (200), ``lr_seed`` (7), ``lr_epochs`` (3).

The result: rows, each party's number of features and the training accuracy (above 0.9 on this
data; the tests check that).
"""

FEATURES = {0: 2, 1: 3}  # columns held by the label holder (0) and by the other party (1)


def _table(seed, rows):
    """The whole synthetic table; each party keeps only its own columns of it."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, FEATURES[0] + FEATURES[1])).astype(np.float32)
    weights = np.array([1.5, -2.0, 1.0, 0.5, -1.0], dtype=np.float32)
    y = (x @ weights > 0).astype(np.float32).reshape(-1, 1)
    return x, y


def _columns(seed, rows, side):
    x, _unused = _table(seed, rows)
    return x[:, :FEATURES[0]] if side == 0 else x[:, FEATURES[0]:]


def _label(seed, rows):
    return _table(seed, rows)[1]


def _accuracy(predicted, seed, rows):
    import numpy as np

    y = _label(seed, rows)
    return float(np.mean((np.asarray(predicted).reshape(-1, 1) > 0.5) == (y > 0.5)))


def main(ctx):
    from secretflow.data.ndarray import FedNdarray, PartitionWay
    from secretflow.ml.linear.ss_sgd import SSRegression

    name = ctx.args.get('lr_spu')
    spu = ctx.spus[name] if name else ctx.spu
    parties = ctx.args.get('lr_parties') or sorted(spu.actors)
    if len(parties) != 2:
        raise ValueError('this example splits the columns between two parties, got %s' % parties)
    rows, seed = int(ctx.args.get('lr_rows', 200)), int(ctx.args.get('lr_seed', 7))
    holder, other = (ctx.pyu[p] for p in parties)
    x = FedNdarray(partitions={holder: holder(_columns)(seed, rows, 0), other: other(_columns)(seed, rows, 1)},
                   partition_way=PartitionWay.VERTICAL)
    y = FedNdarray(partitions={holder: holder(_label)(seed, rows)}, partition_way=PartitionWay.VERTICAL)
    model = SSRegression(spu)
    model.fit(x, y, epochs=int(ctx.args.get('lr_epochs', 3)), learning_rate=0.3, batch_size=32,
              sig_type='t1', reg_type='logistic', penalty='l2', l2_norm=0.01)
    # The predictions go to the label holder only, who scores them against its own label.
    predicted = model.predict(x, to_pyu=holder).partitions[holder]
    accuracy = ctx.sf.reveal(holder(_accuracy)(predicted, seed, rows))
    return {'rows': rows, 'features': {parties[0]: FEATURES[0], parties[1]: FEATURES[1]},
            'accuracy': round(float(accuracy), 3)}
