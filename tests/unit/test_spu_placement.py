"""The job runner's one placement hook: actors of SPU's runtime class go to their party's head;
every other actor keeps Ray's placement; a SecretFlow it was not verified with is a clear error."""
import types

import pytest

from ansible_collections.sfdeploy.secretflow.plugins.module_utils import job_runner


class SPURuntime(object):
    pass


class UsersActor(object):
    pass


class RemoteClass(object):
    """What secretflow.distributed.remote(cls) returns, recording what the caller chose."""

    def __init__(self, cls):
        self.cls, self.chosen_party, self.chosen_options = cls, None, {}

    def party(self, party):
        self.chosen_party = party
        return self

    def options(self, **options):
        self.chosen_options = options
        return self


sfd = None  # SPU.init below only needs the shape of SecretFlow's code, not to run


class SPU(object):
    def init(self):
        # The shape of SecretFlow 1.11's SPU.init.
        for party in ('alice', 'bob'):
            self.actors[party] = (
                sfd.remote(SPURuntime)
                .party(party)
            )


def _spu_module():
    distributed = types.SimpleNamespace(remote=RemoteClass, get=lambda refs: refs)
    return types.SimpleNamespace(SPURuntime=SPURuntime, SPU=SPU, sfd=distributed)


HEADS = {'alice': 'sfdeploy_head_alice', 'bob': 'sfdeploy_head_bob'}


def test_spu_runtimes_go_to_their_party_head_and_nothing_else_is_placed():
    module = _spu_module()
    job_runner.place_spu_runtimes_on_heads(module, '1.11.0b1', HEADS)
    runtime = module.sfd.remote(SPURuntime).party('bob')
    assert runtime.chosen_party == 'bob'
    assert runtime.chosen_options == {'resources': {'sfdeploy_head_bob': 0.001}, 'num_cpus': 0}
    # A user's actor, through the same module: Ray's own placement.
    users = module.sfd.remote(UsersActor).party('bob')
    assert users.chosen_options == {}
    # Everything else of secretflow.distributed is passed through; installing twice wraps once.
    assert module.sfd.get([1]) == [1]
    job_runner.place_spu_runtimes_on_heads(module, '1.11.0b1', HEADS)
    assert not isinstance(module.sfd._sfd, job_runner._SPUDistributed)


@pytest.mark.parametrize('version,shape,expected', [
    ('1.12.0', None, 'SecretFlow 1.12.0 is not a release this hook was verified with (1.11.x)'),
    ('1.11.0b1', 'no-runtime', 'its SPU device no longer creates runtimes with sfd.remote(SPURuntime)'),
])
def test_an_unverified_secretflow_is_a_clear_error(version, shape, expected):
    module = _spu_module()
    if shape == 'no-runtime':
        del module.SPURuntime
    with pytest.raises(RuntimeError) as err:
        job_runner.place_spu_runtimes_on_heads(module, version, HEADS)
    assert expected in str(err.value) and 'secretflow_packages' in str(err.value)
    assert isinstance(module.sfd, types.SimpleNamespace)


def test_rayfed_proxies_reserve_no_cpu_and_an_unknown_rayfed_is_a_clear_error():
    barriers = types.SimpleNamespace(_DEFAULT_RECEIVER_PROXY_OPTIONS={'max_concurrency': 1000},
                                     _DEFAULT_SENDER_PROXY_OPTIONS={'max_concurrency': 1000})
    job_runner.rayfed_proxies_take_no_cpu(barriers)
    assert barriers._DEFAULT_RECEIVER_PROXY_OPTIONS == {'max_concurrency': 1000, 'num_cpus': 0}
    assert barriers._DEFAULT_SENDER_PROXY_OPTIONS['num_cpus'] == 0
    with pytest.raises(RuntimeError, match='this RayFed has no _DEFAULT_SENDER_PROXY_OPTIONS'):
        job_runner.rayfed_proxies_take_no_cpu(types.SimpleNamespace(_DEFAULT_RECEIVER_PROXY_OPTIONS={}))
