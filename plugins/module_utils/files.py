# -*- coding: utf-8 -*-
# Copyright: sfdeploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""File helpers of the collection's modules: read what is there, write atomically."""

from __future__ import annotations

import grp
import hashlib
import os
import pwd
import tempfile


def read(path, binary=False):
    """The file's content, or None when it cannot be read."""
    try:
        with open(path, 'rb' if binary else 'r') as f:
            return f.read()
    except (IOError, OSError):
        return None


def sha256_file(path):
    """The file's sha256, hex."""
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def write_atomic(path, content, mode, uid=None, gid=None):
    """Replace ``path`` with ``content`` (str or bytes) in one rename, with ``mode`` (and owner)
    set before the new file appears; creates the directory (0750) when missing."""
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory, mode=0o750)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix='.sfdeploy-')
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, 'wb' if isinstance(content, bytes) else 'w') as f:
            f.write(content)
        if uid is not None:
            os.chown(tmp, uid, gid if gid is not None else -1)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class OwnedFiles(object):
    """Files of one directory with one owner and group (names or numeric ids), for a module:
    written atomically, their attributes compared and fixed (not in check mode)."""

    def __init__(self, module, directory, owner, group):
        self.m = module
        self.dir = directory
        try:
            self.uid = int(owner) if str(owner).isdigit() else pwd.getpwnam(owner).pw_uid
            self.gid = int(group) if str(group).isdigit() else grp.getgrnam(group).gr_gid
        except KeyError as exc:
            module.fail_json(msg='tls_owner %s or tls_group %s does not exist on this host: %s' % (owner, group, exc))

    def path(self, name):
        return os.path.join(self.dir, name)

    def write(self, name, data, mode):
        write_atomic(self.path(name), data, mode, self.uid, self.gid)

    def fix_attributes(self, name, mode):
        """Owner, group and mode of an existing file; True when they had to change."""
        st = os.stat(self.path(name))
        if (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (mode, self.uid, self.gid):
            return False
        if not self.m.check_mode:
            os.chown(self.path(name), self.uid, self.gid)
            os.chmod(self.path(name), mode)
        return True
