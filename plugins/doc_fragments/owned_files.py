# -*- coding: utf-8 -*-
# Copyright: sfdeploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The owner and group options of the modules that write files through module_utils.files.OwnedFiles
(sf_tls_party, sf_tls_trust)."""

from __future__ import annotations


class ModuleDocFragment(object):
    DOCUMENTATION = r'''
options:
  owner:
    description: Owner of the files the module writes (a name or a numeric id).
    type: str
    default: root
  group:
    description: Group of the files the module writes (a name or a numeric id).
    type: str
    default: root
'''
