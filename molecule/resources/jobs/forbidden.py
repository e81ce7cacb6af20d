"""Test job: alice sends bob an object of a class outside the deserialization allowlist
(decimal.Decimal). Bob's RayFed must refuse to unpickle it."""


def _make():
    import decimal
    return decimal.Decimal('42')


def _use(value):
    return str(value)


def main(ctx):
    payload = ctx.pyu['alice'](_make)()
    return ctx.sf.reveal(ctx.pyu['bob'](_use)(payload.to(ctx.pyu['bob'])))
