"""Loopback ports for tests that listen (tests/conftest.py puts this directory on sys.path)."""
import socket


def free_ports(n):
    """n loopback ports nothing listens on now (the kernel picks them, so parallel runs and
    other services do not collide)."""
    socks = [socket.socket() for _i in range(n)]
    for s in socks:
        s.bind(('127.0.0.1', 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports
