"""Test job: bring up every cross-silo channel (RayFed and SPU), then hold them open for
``args['hold']`` seconds, or until a file named ``release`` appears in the job's directory,
so that tests can knock on the ports of a running job and let it end when they are done."""
import os
import time

RELEASE = 'release'


def _one():
    return 1


def main(ctx):
    release = os.path.join(ctx.workdir, RELEASE)
    if os.path.exists(release):  # left by an earlier run
        os.unlink(release)
    ones = [ctx.pyu[p](_one)() for p in ctx.parties]
    # PYU -> SPU moves shares over SPU links and RayFed: both channels are up after this.
    total = ctx.sf.reveal(ctx.spu(lambda *xs: sum(xs))(*[o.to(ctx.spu) for o in ones]))
    deadline = time.time() + int(ctx.args.get('hold', 60))
    while time.time() < deadline and not os.path.exists(release):
        time.sleep(1)
    return {'held': int(total)}
