"""A tagged include_tasks passes its tags on (`apply`): an included file's tasks do not inherit
the include's own tags, so `--tags firewall` would run the include and skip what it includes."""
import glob
import os

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _tasks(items):
    for task in items or []:
        yield task
        for key in ('block', 'rescue', 'always'):
            yield from _tasks(task.get(key))


def test_every_tagged_include_applies_its_tags_to_what_it_includes():
    wrong = []
    for path in glob.glob(os.path.join(ROOT, 'roles', '*', 'tasks', '*.yml')):
        with open(path) as f:
            for task in _tasks(yaml.safe_load(f)):
                include = task.get('ansible.builtin.include_tasks')
                if include is None or not task.get('tags'):
                    continue
                applied = (include.get('apply') or {}).get('tags') if isinstance(include, dict) else None
                if not applied or not set(task['tags']) <= set(applied) | {'always'}:
                    wrong.append('%s: %s' % (os.path.relpath(path, ROOT), task.get('name')))
    assert wrong == []
