"""sf_async_wait on this machine (connection local) against Ansible's real async wrapper: a
background task that ends, one that fails, one still running at the timeout, an unknown job, and
one waited for in waits of at most a second (poll). A wait is one run of the wait module a poll
(60 s by default) and one of async_status, however often the job's file is read."""
import json
import re
import textwrap

from runner import ansible_playbook

PLAY = '''
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
    ansible_remote_tmp: "{{ out | dirname }}/remote"
  tasks:
    # Each job is started right before its wait and lasts seconds more than a launch takes on a
    # loaded machine (the suite runs this beside the scenarios), so that each wait finds it running.
    - {name: ends, command: sleep 8, async: 30, poll: 0, register: ends}
    - name: wait ends
      sfdeploy.secretflow.sf_async_wait: {jid: "{{ ends.ansible_job_id }}", timeout: 30}
      register: waited_ends
    - {name: fails, command: sh -c 'sleep 1; exit 3', async: 30, poll: 0, register: fails}
    - name: wait fails
      sfdeploy.secretflow.sf_async_wait: {jid: "{{ fails.ansible_job_id }}", timeout: 30}
      register: waited_fails
      ignore_errors: true
    - {name: runs, command: sleep 20, async: 40, poll: 0, register: runs}
    - name: wait runs
      sfdeploy.secretflow.sf_async_wait: {jid: "{{ runs.ansible_job_id }}", timeout: 1}
      register: waited_runs
      ignore_errors: true
    - {name: polled, command: sleep 8, async: 30, poll: 0, register: polled}
    - name: wait polled
      sfdeploy.secretflow.sf_async_wait: {jid: "{{ polled.ansible_job_id }}", timeout: 30, poll: 1}
      register: waited_polled
    # A job whose file appears 3 s after the wait's first module run began (seen by its process,
    # which runs from this play's own remote_tmp), as a loaded host's async wrapper can leave it
    # (it returns after 2.5 s at most): waited for in runs of 1 s (poll), the grace for the file
    # spanning the wait's runs.
    - name: late
      ansible.builtin.shell: >-
        rm -f {{ dir }}/late.1; (for i in $(seq 600); do pgrep -f '{{ ansible_remote_tmp }}/.*[A]nsiballZ_sf_async_wait'
        && break; sleep 0.1; done; sleep 3; echo '{"started": 1, "finished": 0}' > {{ dir }}/late.1.tmp; mv {{ dir }}/late.1.tmp {{ dir }}/late.1;
        sleep 2; echo '{"rc": 0, "late": true}' > {{ dir }}/late.1.tmp; mv {{ dir }}/late.1.tmp {{ dir }}/late.1)
        >/dev/null 2>&1 &
      vars:
        dir: "{{ lookup('env', 'HOME') }}/.ansible_async"
    - name: wait late
      sfdeploy.secretflow.sf_async_wait: {jid: late.1, timeout: 30, poll: 1}
      register: waited_late
    - name: wait nothing
      sfdeploy.secretflow.sf_async_wait: {jid: "1.2", timeout: 5}
      register: waited_nothing
      ignore_errors: true
    - name: keep
      ansible.builtin.copy:
        dest: "{{ out }}"
        content: "{{ {'ends': waited_ends, 'fails': waited_fails, 'runs': waited_runs, 'polled': waited_polled,
                      'nothing': waited_nothing, 'late': waited_late} | to_json }}"
        mode: '0600'
'''


def test_a_background_task_is_waited_for_on_the_host_and_collected_as_async_status_does(tmp_path):
    play = tmp_path / 'play.yml'
    play.write_text(textwrap.dedent(PLAY))
    out = tmp_path / 'out.json'
    proc = ansible_playbook('-vvv', '-i', 'localhost,', '-e', 'out=%s' % out, play)
    assert proc.returncode == 0, proc.stdout[-3000:]
    got = json.loads(out.read_text())
    ends, fails, runs, nothing = got['ends'], got['fails'], got['runs'], got['nothing']
    # Collected as async_status gives it: the command's own result.
    assert ends['finished'] is True and ends['rc'] == 0 and ends['cmd'] == ['sleep', '8'], ends
    # It was still running when the wait began: the wait waited, on the host.
    assert not ends.get('failed') and ends['waited'] >= 1.0, ends
    assert fails['failed'] is True and fails['finished'] is True and fails['rc'] == 3, fails
    assert runs['failed'] is True and runs['finished'] is False, runs
    assert 'has not ended after 1 s' in runs['msg'], runs
    # An unknown job: its file is waited for as long as the wait's timeout (5 s here, below appear's
    # 30 s), as a job's file may come after the async wrapper has returned on a loaded host.
    assert nothing['failed'] is True and 'could not find job 1.2 (no file' in nothing['msg'], nothing
    assert nothing['waited'] >= 4.5 and nothing['wait_runs'] == 1, nothing
    late = got['late']
    # The file was missing for the whole first run (1 s): a wait without the grace failed there, and
    # the next run waited for it with what was left of the grace.
    assert late['finished'] is True and late['late'] is True and late['wait_runs'] >= 2, late
    assert got['polled']['finished'] is True and got['polled']['rc'] == 0, got['polled']
    # Module runs, task by task (-vvv shows each as the interpreter's EXEC of its AnsiballZ file):
    # a wait of seconds is no loop of module runs, and with poll 1 a run about every second.
    runs_of = {}
    for task in re.split(r'^TASK \[', proc.stdout, flags=re.M)[1:]:
        name = task.split(']', 1)[0]
        runs_of[name] = tuple(len(re.findall(r"EXEC /bin/sh -c '\S+python\S* \S+/AnsiballZ_%s\.py" % module, task))
                              for module in ('sf_async_wait', 'async_status'))
    assert runs_of['wait ends'] == runs_of['wait fails'] == (1, 1), runs_of
    assert runs_of['wait runs'] == runs_of['wait nothing'] == (1, 0), runs_of
    assert got['polled']['waited'] >= 1.0, got['polled']
    assert 2 <= runs_of['wait polled'][0] <= 9 and runs_of['wait polled'][1] == 1, runs_of
    assert got['polled']['wait_runs'] == runs_of['wait polled'][0] and got['ends']['wait_runs'] == 1, got
