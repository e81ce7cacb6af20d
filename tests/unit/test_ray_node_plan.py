"""sf_ray_node's one decision of what C(started) does (Node.start_plan): the commands a real run
runs, the action check mode reports, and whether a start is due (C(state=configured)), under
systemd (the unit's state as `systemctl show` prints it) and as a plain process."""
import pytest

from ansible_collections.sfdeploy.secretflow.plugins.modules.sf_ray_node import Node

UNIT = 'sfdeploy-ray-alice.service'


class Module(object):
    """What Node uses of AnsibleModule: params, and run_command answering `systemctl show`."""

    def __init__(self, manager='systemd', **state):
        self.params = {'node_dir': '/nonexistent/node', 'manager': manager, 'service': 'sfdeploy-ray-alice'}
        self.state, self.ran = state, []

    def run_command(self, argv):
        self.ran.append(argv)
        return 0, ''.join('%s=%s\n' % item for item in self.state.items()), ''


def plan(restart, running=None, **state):
    return Node(Module(**state)).start_plan(restart, running)


LOADED = dict(LoadState='loaded', NeedDaemonReload='no')


@pytest.mark.parametrize('active, enabled, restart, steps, action', [
    ('active', 'enabled', False, [], 'none'),
    ('active', 'disabled', False, [['systemctl', 'enable', UNIT]], 'enabled'),
    ('inactive', 'enabled', False, [['systemctl', 'start', UNIT]], 'started'),
    ('failed', 'disabled', False, [['systemctl', 'enable', UNIT], ['systemctl', 'start', UNIT]], 'started'),
    ('activating', 'enabled', True, [['systemctl', 'restart', UNIT]], 'restarted'),
    ('inactive', 'enabled', True, [['systemctl', 'start', UNIT]], 'started'),
])
def test_under_systemd_the_unit_is_enabled_and_started_or_restarted_as_needed(active, enabled, restart, steps, action):
    assert plan(restart, ActiveState=active, UnitFileState=enabled, **LOADED) == (steps, action)


def test_a_unit_systemd_has_never_loaded_is_enabled_and_started():
    assert plan(False, ActiveState='inactive', UnitFileState='', LoadState='not-found') == (
        [['systemctl', 'enable', UNIT], ['systemctl', 'start', UNIT]], 'started')


@pytest.mark.parametrize('running, restart, verb, action', [
    (False, False, 'start', 'started'), (True, True, 'restart', 'restarted'), (True, False, None, 'none')])
def test_a_plain_process_node_is_started_or_restarted_by_its_nodectl(running, restart, verb, action):
    steps = [['/nonexistent/node/ray-nodectl', verb, '/nonexistent/node']] if verb else []
    assert plan(restart, running, manager='process') == (steps, action)


@pytest.mark.parametrize('state, due', [
    (dict(ActiveState='active', UnitFileState='enabled', **LOADED), False),
    (dict(ActiveState='active', UnitFileState='disabled', **LOADED), True),
    (dict(ActiveState='active', UnitFileState='enabled', LoadState='loaded', NeedDaemonReload='yes'), True),
    (dict(ActiveState='active', UnitFileState='enabled', LoadState='error', NeedDaemonReload='no'), True),
])
def test_a_start_is_due_on_a_running_node_only_when_its_unit_is_not_enabled_or_not_loaded_as_written(state, due):
    # unit None: no unit file to compare (the scenarios change units on real hosts).
    assert Node(Module(**state)).start_due(True, None) is due


def test_a_node_that_does_not_run_is_always_due_and_systemd_is_not_asked():
    module = Module(ActiveState='active', UnitFileState='enabled', **LOADED)
    assert Node(module).start_due(False, None) is True and module.ran == []
