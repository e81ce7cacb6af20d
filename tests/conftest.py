"""Make this checkout importable as ansible_collections.sfdeploy.secretflow."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINK_PARENT = os.path.join(ROOT, '.collections')
LINK = os.path.join(LINK_PARENT, 'ansible_collections', 'sfdeploy', 'secretflow')
if not os.path.exists(LINK):
    os.makedirs(os.path.dirname(LINK), exist_ok=True)
    os.symlink(ROOT, LINK)
if LINK_PARENT not in sys.path:
    sys.path.insert(0, LINK_PARENT)
# Helpers shared by the unit and integration tests (netports.py).
TESTS = os.path.dirname(os.path.abspath(__file__))
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)
