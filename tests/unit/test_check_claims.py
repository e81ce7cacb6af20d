"""tests/check_claims.py: a claims map entry whose test, case or README section does not exist
is reported; one whose test exists is not."""
import importlib.util
import os

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location('check_claims', os.path.join(HERE, '..', 'check_claims.py'))
check_claims = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_claims)

README = '# Title\n\n## Security model\n\ntext\n'


def _root(tmp_path):
    (tmp_path / 'tests').mkdir()
    (tmp_path / 'tests' / 'test_a.py').write_text(
        "CASES = {'a held port': 1}\n\ndef test_one(case):\n    pass\n")
    return str(tmp_path)


def test_an_existing_test_and_case_pass(tmp_path):
    claims = [{'claim': 'x', 'section': 'Security model',
               'tests': ['tests/test_a.py::test_one', 'tests/test_a.py::test_one[a held port]']}]
    assert check_claims.problems(claims, README, _root(tmp_path)) == []


def test_a_missing_file_function_case_or_section_is_reported(tmp_path):
    claims = [
        {'claim': 'file', 'section': 'Security model', 'tests': ['tests/test_b.py::test_one']},
        {'claim': 'function', 'section': 'Security model', 'tests': ['tests/test_a.py::test_two']},
        {'claim': 'case', 'section': 'Security model', 'tests': ['tests/test_a.py::test_one[a free port]']},
        {'claim': 'section', 'section': 'Day 3', 'gap': 'none yet'},
        {'claim': 'nothing', 'section': 'Security model'},
    ]
    found = check_claims.problems(claims, README, _root(tmp_path))
    assert len(found) == 5, found
    assert 'no such file' in found[0]
    assert 'no function test_two' in found[1]
    assert 'no case "a free port"' in found[2]
    assert 'no README section "Day 3"' in found[3]
    assert 'lists no test and no gap' in found[4]


def test_a_suite_step_is_a_shell_function_of_scripts_test_sh(tmp_path):
    (tmp_path / 'scripts').mkdir()
    (tmp_path / 'scripts' / 'test.sh').write_text('readme_setup() {\n  true\n}\n')
    readme = '## Quick start\n'
    ok = [{'claim': 'c', 'section': 'Quick start', 'tests': ['scripts/test.sh::readme_setup']}]
    bad = [{'claim': 'c', 'section': 'Quick start', 'tests': ['scripts/test.sh::no_such_step']}]
    assert check_claims.problems(ok, readme, root=str(tmp_path)) == []
    assert check_claims.problems(bad, readme, root=str(tmp_path)) != []
