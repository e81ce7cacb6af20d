"""The controller side of sf_wheelhouse: its progress lines, the platforms it asks pip for, and the
host side's check of what arrived."""
import hashlib

import pytest

from ansible_collections.sfdeploy.secretflow.plugins.action.sf_wheelhouse import Progress, pip_platforms
from ansible_collections.sfdeploy.secretflow.plugins.modules import sf_wheelhouse


class Clock(object):
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_progress_says_what_it_does_and_what_is_left_at_most_every_interval():
    clock, lines = Clock(), []
    progress = Progress('copying to h1:/w', 4, 40e6, interval=5, clock=clock, say=lines.append)
    assert lines == ['sfdeploy wheelhouse: copying to h1:/w: 4 files (40 MB)']
    clock.now += 1
    progress.advance(10e6)  # within the interval: silent
    clock.now += 5
    progress.advance(10e6, 'c.whl')
    assert lines[1] == 'sfdeploy wheelhouse: copying to h1:/w: 2 of 4 files done, 20 MB of 40 MB, 2 left, 6 s (now on c.whl)'
    clock.now += 1
    progress.advance(10e6)
    clock.now += 9
    progress.advance(10e6)  # the last file: the end line says it, not a progress line
    progress.finish()
    assert lines[2:] == ['sfdeploy wheelhouse: copying to h1:/w: done, 4 of 4 files, 40 MB in 16 s']


def test_a_download_of_unknown_size_counts_what_it_has():
    clock, lines = Clock(), []
    progress = Progress('downloading', 1, interval=0, clock=clock, say=lines.append)
    progress.advance(500)
    progress.finish()
    assert lines == ['sfdeploy wheelhouse: downloading: 1 file', 'sfdeploy wheelhouse: downloading: done, 1 of 1 files, 0 kB in 0 s']
    lines.clear()
    Progress('downloading', 3, interval=0, clock=clock, say=lines.append).advance(2.5e6)
    assert lines[1] == 'sfdeploy wheelhouse: downloading: 1 of 3 files done, 2.5 MB so far, 2 left, 0 s'


def test_pip_is_asked_for_every_manylinux_tag_the_lock_platform_covers():
    tags = pip_platforms('x86_64-manylinux_2_28')
    assert tags[0] == 'manylinux_2_28_x86_64' and tags[-2:] == ['manylinux_2_5_x86_64', 'manylinux1_x86_64']
    assert {'manylinux2014_x86_64', 'manylinux2010_x86_64', 'manylinux1_x86_64'} <= set(tags)
    assert pip_platforms('aarch64-manylinux_2_17')[:2] == ['manylinux_2_17_aarch64', 'manylinux2014_aarch64']
    assert pip_platforms('x86_64-musllinux_1_2') == ['musllinux_1_2_x86_64']


class Module(object):
    class Failed(Exception):
        pass

    def fail_json(self, msg):
        raise self.Failed(msg)


def test_the_host_places_what_arrived_intact_and_refuses_a_changed_file(tmp_path):
    staged, dest = tmp_path / 'staged', tmp_path / 'dest'
    staged.mkdir()
    dest.mkdir()
    (staged / 'a-1-py3-none-any.whl').write_bytes(b'aaa')
    (staged / 'b-1-py3-none-any.whl').write_bytes(b'bbb')
    files = [{'name': 'a-1-py3-none-any.whl', 'sha256': hashlib.sha256(b'aaa').hexdigest(), 'size': 3},
             {'name': 'b-1-py3-none-any.whl', 'sha256': hashlib.sha256(b'BBB').hexdigest(), 'size': 3},
             {'name': 'c-1-py3-none-any.whl', 'sha256': hashlib.sha256(b'c').hexdigest(), 'size': 1}]
    assert sf_wheelhouse.lacking(str(dest), files) == [f['name'] for f in files]
    with pytest.raises(Module.Failed, match='b-1-py3-none-any.whl arrived with sha256 .* not the .* the controller sent'):
        sf_wheelhouse.place(Module(), str(dest), files, str(staged))
    # a was placed before b was refused; b is not under its name; c never arrived.
    assert sorted(p.name for p in dest.iterdir()) == ['a-1-py3-none-any.whl']
    assert sf_wheelhouse.lacking(str(dest), files) == ['b-1-py3-none-any.whl', 'c-1-py3-none-any.whl']
    # A file of the wrong size counts as missing.
    (dest / 'c-1-py3-none-any.whl').write_bytes(b'cc')
    assert 'c-1-py3-none-any.whl' in sf_wheelhouse.lacking(str(dest), files)
