# -*- coding: utf-8 -*-
# Copyright: sfdeploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""File helpers of the collection's modules: read what is there, write atomically."""

from __future__ import annotations

import hashlib
import os
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
