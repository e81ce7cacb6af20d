"""sf_os_packages' reading of apt: which missing packages the mirror cannot provide."""
from ansible_collections.sfdeploy.secretflow.plugins.modules.sf_os_packages import without_candidate

POLICY = """libgomp1:
  Installed: (none)
  Candidate: 12.2.0-14+deb12u1
  Version table:
     12.2.0-14+deb12u1 500
        500 http://deb.debian.org/debian bookworm/main amd64 Packages
stunnel4:
  Installed: (none)
  Candidate: (none)
  Version table:
"""


def test_a_package_with_no_candidate_or_unknown_to_apt_is_unavailable():
    # sfdeploy-no-such is unknown: apt-cache policy prints nothing for it.
    assert without_candidate(POLICY, ['libgomp1', 'stunnel4', 'sfdeploy-no-such'], False) == [
        'stunnel4', 'sfdeploy-no-such']
    assert without_candidate(POLICY, ['libgomp1'], False) == []


def test_with_the_mirror_down_every_missing_package_is_unavailable():
    assert without_candidate(POLICY, ['libgomp1', 'stunnel4'], True) == ['libgomp1', 'stunnel4']
