# -*- coding: utf-8 -*-
# Copyright: sfdeploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter for the secretflow role's preflight: why a package lock does not fit the package set
(module_utils/lock.py holds the logic; the documentation is in the sidecar lock_problems.yml)."""

from __future__ import annotations

from ansible_collections.sfdeploy.secretflow.plugins.module_utils import lock


def lock_problems(text, packages, overrides=None, exclusions=None):
    return lock.problems(text, packages, overrides, exclusions)


class FilterModule(object):
    def filters(self):
        return {'lock_problems': lock_problems}
