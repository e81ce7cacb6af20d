"""Test job: bring up every cross-silo channel (RayFed and SPU), then hold them open for
``args['hold']`` seconds so that tests can knock on the ports of a running job."""
import time


def _one():
    return 1


def main(ctx):
    ones = [ctx.pyu[p](_one)() for p in ctx.parties]
    # PYU -> SPU moves shares over SPU links and RayFed: both channels are up after this.
    total = ctx.sf.reveal(ctx.spu(lambda *xs: sum(xs))(*[o.to(ctx.spu) for o in ones]))
    time.sleep(int(ctx.args.get('hold', 60)))
    return {'held': int(total)}
