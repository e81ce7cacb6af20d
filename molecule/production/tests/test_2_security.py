"""Tests that try to get in (production test bed): mallory, who is in no party, and the parties
themselves knocking on each other's Ray ports (bob and carol share one machine); clients with a
foreign certificate or none on a running job's RayFed and SPU ports; where private keys are; a
class outside the allowlist; a party whose firewall rules are gone is unhealthy."""
import json
import os
import re
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.environ.get('MOLECULE_PROJECT_DIRECTORY', os.getcwd()), 'molecule', 'resources'))
from production_bed import (HEADS, MACHINE_OF, MACHINES, NODES, PRIVATE, PSI_OFFSET, TLS, port, ray_targets,  # noqa: E402
                            silo_port, silo_targets)
from testbed import ROOT, changed_counts, host, knock, playbook, playbook_args, status, task_output  # noqa: E402

SILO_PORTS = [20008, 20009]  # alice's


def test_mallory_reaches_no_ray_rayfed_or_spu_port():
    # Both parties of the shared machine included: each node's table is its own.
    verdicts = knock('prod-mallory', ray_targets(NODES) + silo_targets(HEADS))
    assert len(verdicts) == len(ray_targets(NODES)) + 6 and set(verdicts.values()) == {'dropped'}, verdicts
    # The SSH port of every machine stays open (the management connection is never filtered).
    assert set(knock('prod-mallory', ['%s:22' % NODES[n][1] for n in NODES]).values()) == {'open'}


def test_no_party_reaches_another_partys_ray_ports():
    # From the shared machine (bob's and carol's address) to alice; from alice and from carol's
    # worker to the shared machine's other party.
    for source, targets in (('prod-bob', ['prod-alice-1']),
                            ('prod-alice-1', ['prod-bob', 'prod-carol', 'prod-carol-2']),
                            ('prod-carol-2', ['prod-bob'])):
        verdicts = knock(source, ray_targets(targets))
        assert set(verdicts.values()) == {'dropped'}, (source, verdicts)
    # What the README's security model says of parties sharing a machine: a firewall cannot tell
    # them apart. carol's worker lets in carol's head's address, which is bob's address too.
    assert knock('prod-bob', ['10.211.2.32:%d' % port('prod-carol-2', 1)]) == {'10.211.2.32:21001': 'open'}
    # Positive controls: alice's cross-silo ports let bob and carol through (nothing listens there
    # between jobs); inside carol's party, the worker reaches its head's GCS on the shared machine.
    assert set(knock('prod-bob', silo_targets(['alice'])).values()) == {'refused'}
    assert set(knock('prod-alice-1', silo_targets(['bob', 'carol'])).values()) == {'refused'}
    assert knock('prod-carol-2', ['10.211.2.21:21000']) == {'10.211.2.21:21000': 'open'}


def test_a_named_spu_device_port_lets_in_its_own_parties_only():
    """The device psi is bob's and carol's (molecule.yml): alice, a party of the federation whose
    heads may dial the default SPU port, is dropped on the device's ports; each of them lets in
    exactly the other party's head (bob and carol share an address)."""
    psi = ['10.211.2.21:%d' % port(HEADS[p], PSI_OFFSET) for p in ('bob', 'carol')]
    assert set(knock('prod-alice-1', psi).values()) == {'dropped'}
    assert set(knock('prod-mallory', psi).values()) == {'dropped'}
    # The control: alice reaches the default SPU port of the same head (nothing listens between jobs).
    assert set(knock('prod-alice-1', ['10.211.2.21:%d' % silo_port('bob', 'spu')]).values()) == {'refused'}
    for party in ('bob', 'carol'):
        table = 'sfdeploy_%s' % HEADS[party].replace('-', '_')
        listed = host(HEADS[party]).check_output('sudo nft list set inet %s spu_psi_v4' % table)
        assert re.search(r'elements = \{ 10\.211\.2\.21 \}', listed), listed
    assert host(HEADS['alice']).run('sudo nft list set inet sfdeploy_prod_alice_1 spu_psi_v4').rc != 0


def test_a_party_whose_firewall_rules_are_gone_is_unhealthy_and_its_unit_restores_them():
    shared = host('prod-carol')
    shared.check_output('sudo nft delete table inet sfdeploy_prod_carol')
    try:
        exposed = knock('prod-mallory', ['10.211.2.21:%d' % port('prod-carol', 0)])
        assert set(exposed.values()) == {'open'}, exposed  # what a missing table means
        proc = status('-e', 'status_fail_unhealthy=true')
        out = ' '.join(proc.stdout.split())
        assert proc.returncode != 0, out[-3000:]
        assert 'carol: UNHEALTHY' in out and 'bob: healthy' in out, out[-3000:]
        assert 'prod-carol: firewall: its nftables table sfdeploy_prod_carol is not loaded' in out, out[-3000:]
    finally:
        # The unit that loads the rules at boot loads them again.
        shared.check_output('sudo systemctl restart sfdeploy-firewall-prod_carol')
    assert set(knock('prod-mallory', ['10.211.2.21:%d' % port('prod-carol', 0)]).values()) == {'dropped'}
    assert status('-e', 'status_fail_unhealthy=true').returncode == 0


# Runs on bob's head while a job runs: TLS handshakes with alice's RayFed (gRPC) and SPU
# (brpc) ports, as bob (bob's certificate, trusting its peers' CAs), as a stranger (a
# certificate from a CA nobody trusts) and in plaintext. Prints "kind port verdict".
HANDSHAKES = r'''
import datetime, os, socket, ssl, sys, tempfile
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
address, ports, tls = sys.argv[1], [int(p) for p in sys.argv[2:]], "%s"
d = tempfile.mkdtemp()
key = ec.generate_private_key(ec.SECP256R1())
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mallory")])
now = datetime.datetime.now(datetime.timezone.utc)
cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
open(d + "/c.pem", "wb").write(cert.public_bytes(serialization.Encoding.PEM))
open(d + "/k.pem", "wb").write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()))
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes.fromhex("000000040000000000")
def tls_try(port, certfile, keyfile, cafile):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    if cafile: ctx.load_verify_locations(cafile)
    else: ctx.verify_mode = ssl.CERT_NONE
    ctx.load_cert_chain(certfile, keyfile)
    ctx.set_alpn_protocols(["h2"])
    try:
        raw = socket.create_connection((address, port), timeout=10)
        s = ctx.wrap_socket(raw)
    except (ssl.SSLError, ConnectionError, socket.timeout):
        return "refused"
    try:
        s.settimeout(5)
        s.sendall(PREFACE)
        data = s.recv(64)
        return "served" if data else "closed"
    except socket.timeout:
        return "accepted"
    except (ssl.SSLError, ConnectionError):
        return "refused"
    finally:
        s.close()
def plain_try(port):
    try:
        with socket.create_connection((address, port), timeout=10) as s:
            s.sendall(PREFACE); s.settimeout(10)
            data = s.recv(64)
            # A TLS server answers cleartext with nothing, or with a TLS alert record (0x15).
            return "refused" if not data or data[:1] == b"\x15" else "served"
    except (ConnectionError, socket.timeout):
        return "refused"
for port in ports:
    print("peer", port, tls_try(port, tls + "/node.crt", tls + "/node.key", tls + "/peers-ca.pem"))
    print("stranger", port, tls_try(port, d + "/c.pem", d + "/k.pem", None))
    print("plaintext", port, plain_try(port))
''' % (TLS % 'bob')


@pytest.fixture(scope='module')
def running_job():
    """A job holding RayFed and SPU open on every party, started with --forks 1 and a start planned
    60 s ahead (job_start_margin 20 s for each of the three heads)."""
    run = subprocess.Popen(**playbook_args('molecule/resources/production-job.yml', '--forks', '1',
                                           '-e', 'job_src=molecule/resources/jobs/hold.py',
                                           '-e', '{"job_args": {"hold": 300}, "job_expected_result": {"held": 3}}',
                                           '-e', 'job_name=hold', '-e', 'job_start_margin=20'))
    alice = host(HEADS['alice'])
    for _attempt in range(60):  # readiness: alice's sf.init is done and both cross-silo ports listen
        phase = alice.run("sudo cat /var/tmp/sfdeploy-jobs/hold-alice/status.json").stdout
        ports = alice.run("ss -Htln | awk '{print $4}' | grep -oE ':2000[89]$' | sort -u | wc -l").stdout.strip()
        if ports == '2' and '"initialized"' in phase:
            break
        time.sleep(5)
    yield run
    _release_hold()
    run.wait(timeout=900)


def _release_hold():
    """Let the held job end now (hold.py waits for this file, or its hold time)."""
    for party, name in HEADS.items():
        host(name).run('sudo touch /var/tmp/sfdeploy-jobs/hold-%s/release' % party)


def _handshakes():
    """Handshake verdicts from bob's head, once bob's own certificate is served on both ports
    (readiness: SPU's links come up after RayFed's); the last verdicts after about 2 minutes."""
    verdicts = {}
    for _attempt in range(24):
        verdicts = {}
        for line in host('prod-bob').check_output(
                "sudo python3 -c '%s' 10.211.2.11 20008 20009" % HANDSHAKES.replace("'", "'\"'\"'")).splitlines():
            kind, port, verdict = line.split()
            verdicts[(kind, int(port))] = verdict
        if all(verdicts.get(('peer', p)) in ('served', 'accepted') for p in SILO_PORTS):
            break
        time.sleep(5)
    return verdicts


def test_a_running_job_serves_peers_only_over_mutual_tls(running_job):
    verdicts = _handshakes()
    # bob with its own certificate is served: the handshakes and the refusals below are real.
    for p in SILO_PORTS:
        assert verdicts[('peer', p)] in ('served', 'accepted'), verdicts
        assert verdicts[('stranger', p)] in ('refused', 'closed'), verdicts
    assert verdicts[('plaintext', 20008)] == 'refused', verdicts


def test_spu_refuses_a_plaintext_client_from_a_peer_address(running_job):
    # brpc, which carries SPU's links, answers cleartext on its TLS port too; the job's TLS front
    # (stunnel) holds the SPU port and SPU itself listens on alice's loopback only.
    verdicts = _handshakes()
    assert verdicts[('peer', 20009)] in ('served', 'accepted') and verdicts[('plaintext', 20009)] == 'refused', verdicts
    listening = host('prod-alice-1').check_output("sudo ss -Htlnp | awk '{print $4, $6}'")
    assert [line.split()[0] for line in listening.splitlines() if ':20012 ' in line] == ['127.0.0.1:20012'], listening
    assert re.search(r'^0\.0\.0\.0:20009 .*"stunnel', listening, re.M), listening
    assert knock('prod-bob', ['10.211.2.11:20012']) == {'10.211.2.11:20012': 'refused'}


def test_status_shows_the_cross_silo_ports_a_running_job_holds(running_job):
    """While the held job runs, status names every head's RayFed and SPU ports as held by a job
    (bob's and carol's TLS front also holds their device psi's port) and the parties stay healthy."""
    proc = status('-e', 'status_fail_unhealthy=true')
    assert proc.returncode == 0, proc.stdout[-4000:]
    held = {}
    for line in proc.stdout.splitlines():
        words = line.split()
        if len(words) > 8 and words[0] in HEADS and words[1] == HEADS[words[0]]:
            held[words[0]] = words[8]
    assert held == {'alice': 'job/job', 'bob': 'job/job,psi=job', 'carol': 'job/job,psi=job'}, proc.stdout[-3000:]


def test_the_held_job_succeeds_with_one_fork_and_reports_the_skew(running_job):
    _release_hold()
    out = running_job.communicate(timeout=900)[0]
    assert running_job.returncode == 0, out[-4000:]
    assert 'launch skew (latest start - earliest start):' in out
    for party in HEADS:
        assert "%s: the job's result is the expected one" % party in out.replace("''", "'")
    # Why the parties start together although --forks 1 launches them one after the other: every
    # party got the same planned instant (60 s ahead here), the last launch (its spec written) came
    # before it, and each driver imported SecretFlow first (prepared), then waited at the start
    # barrier until every party was ready, not for the planned instant: no driver began before the
    # last was ready, and all began within 0.5 s of it, long before the plan. (The containers
    # share one clock, as NTP-synced hosts do.)
    plans, launched, prepared, began = {}, {}, {}, {}
    for party, name in HEADS.items():
        jobdir = '/var/tmp/sfdeploy-jobs/hold-%s' % party
        plans[party] = json.loads(host(name).check_output('sudo cat %s/spec.json' % jobdir)).get('start_at')
        launched[party] = float(host(name).check_output('sudo stat -c %%.9Y %s/spec.json' % jobdir))
        result = json.loads(host(name).check_output('sudo cat %s/result.json' % jobdir))
        prepared[party], began[party] = result['prepared'], result['started']
        assert result['peers_ready'] == sorted(set(HEADS) - {party}), (party, result)
    assert len(set(plans.values())) == 1 and None not in plans.values(), plans
    start_at, last_ready = plans['alice'], max(prepared.values())
    assert max(launched.values()) < last_ready < start_at - 20, (launched, prepared, start_at)
    for party in HEADS:
        assert launched[party] < prepared[party] <= began[party], (party, launched, prepared, began)
        assert last_ready <= began[party] < last_ready + 0.5, (party, prepared, began)


def _key_markers():
    """head -> a line of each private key file of its party (the second line of the PEM)."""
    return {name: [host(name).check_output('sudo sed -n 2p %s/%s' % (TLS % party, key)) for key in ('node.key', 'ca.key')]
            for party, name in HEADS.items()}


def test_private_keys_are_0600_and_only_on_their_host():
    for name, (party, address, head, base) in NODES.items():
        h = host(name)
        if not head:
            assert not h.file(TLS % party).exists, name
            continue
        for key in ('node.key', 'ca.key'):
            f = h.file('%s/%s' % (TLS % party, key))
            assert f.exists and f.mode == 0o600 and f.user == 'root', (name, key)
    # Key lines must never reach a failure message (which lands in logs): compare, then assert.
    markers = _key_markers()
    assert all(len(m) == 64 for ms in markers.values() for m in ms), 'a key file is not a PEM key'
    places = '$(ls -d /etc /root /home /tmp /var/tmp /var/lib/sfdeploy 2>/dev/null)'
    for machine, via in MACHINES.items():
        # Keys of the parties on another machine: none. On the shared machine, each party's keys are
        # in its own TLS directory only.
        foreign = [m for name, ms in markers.items() if MACHINE_OF[name] != machine for m in ms]
        found = host(via).run('sudo grep -rlF %s -- %s' % (' '.join('-e %s' % m for m in foreign), places))
        clean = found.rc == 1 and not found.stdout.strip()
        assert clean, 'keys of other machines on %s, in: %s' % (machine, found.stdout)
        for name, ms in markers.items():
            if MACHINE_OF[name] != machine:
                continue
            own = host(via).run('sudo grep -rlF %s -- %s' % (' '.join('-e %s' % m for m in ms), places))
            where = sorted(set(own.stdout.split()))
            assert where == ['%s/%s' % (TLS % NODES[name][0], k) for k in ('ca.key', 'node.key')], (name, where)
    every = [m for ms in markers.values() for m in ms]
    # -s: files that vanish while grep reads (the other scenario's temporary files) are not errors here.
    local = subprocess.run(['grep', '-rlsF', '--exclude-dir=.venv', '--exclude-dir=toolvenv']
                           + [a for m in every for a in ('-e', m)]
                           + ['--', os.path.expanduser('~/.ansible'), '/tmp', ROOT], capture_output=True, text=True, check=False)
    clean = local.returncode != 0 and not local.stdout.strip()
    assert clean, 'keys found on the controller (grep rc %d), in: %s' % (local.returncode, local.stdout)


def _fingerprints():
    return {name: host(name).check_output('sha256sum %s/node.crt' % (TLS % party)).split()[0]
            for party, name in HEADS.items()}


def test_a_verbose_full_run_renews_close_to_expiry_certificates_and_shows_no_key():
    before = _fingerprints()
    # Every certificate (365 days) "expires within 400 days": all are renewed; keys stay. The job
    # runs too (with each party's private arguments).
    proc = playbook('playbooks/production.yml', '-vvv', '-e', 'tls_renew_before_days=400', '-e', 'job_name=verbose')
    assert proc.returncode == 0, proc.stdout[-4000:]
    for party in HEADS:
        assert "%s: the job's result is the expected one" % party in proc.stdout.replace("''", "'")
    assert 'PRIVATE KEY' not in proc.stdout
    shown = [name for name, ms in _key_markers().items() for m in ms if m in proc.stdout]
    assert not shown, 'the output shows private key lines of %s' % shown
    shown = [party for party, marker in PRIVATE.items() if marker in proc.stdout]
    assert not shown, "the output shows the private job arguments of %s" % shown
    # The watch's rounds waited on the hosts without a module (job_watch); the module ran once a head,
    # to collect the result.
    watch = task_output(proc.stdout, "Watch every party's job until it ends; a failure anywhere stops the others")
    assert 'def wait_round(' in watch, watch[-3000:]
    assert len(re.findall(r'Using module file \S+/sf_job\.py', watch)) == len(HEADS), watch[-3000:]
    # On deployed hosts the host probes run once a host, in the preflight: the roles reuse their
    # answers, and no role calls the package manager (the preflight found every package installed).
    # The packages match the pins, so no host asks the package index (it would need it only to install).
    index = task_output(proc.stdout, 'Ask whether this host reaches the package index')
    assert 'skipping: [' in index and not re.search(r'^ok:|Using module file', index, re.M), index[-2000:]
    for task, module in (('Compare the installed packages with the pins', 'sf_python_packages'),
                         ('Ask firewalld and ufw whether they run', 'command'),
                         ('Check that the OS packages the roles need are installed, or that the mirror has them',
                          'sf_os_packages')):
        hosts = _ran_once_a_host(proc.stdout, task, module)
    # Each role's own checks ran once a host too: in the deploy play every role skipped its
    # preflight, which the preflight play had run.
    for task in ('Compare the Python version across all hosts', 'Check the requirement pins',
                 'Check that every address the rules name is an IP address'):
        _ran_once_a_host(proc.stdout, task)
    for task in ('Check the Python version of every host before changing any', "Check this role's input",
                 'Check the firewall settings', 'Check the TLS settings'):
        out = task_output(proc.stdout, task)
        assert 'skipping: [' in out and not re.search(r'^(ok|included):', out, re.M), (task, out[-2000:])
    # hosts: those of the last, the preflight's sf_os_packages call.
    assert len(re.findall(r'Using module file \S+/sf_os_packages\.py', proc.stdout)) == len(hosts), \
        'a role called the package manager on a deployed host'
    venv = task_output(proc.stdout, 'Create the virtual environment')
    assert 'skipping: [' in venv and 'Using module file' not in venv, venv[-2000:]
    renewed = _fingerprints()
    assert all(renewed[name] != before[name] for name in before), (before, renewed)
    # With the default window the fresh certificates are left alone.
    again = playbook('playbooks/production.yml', '--tags', 'tls')
    assert again.returncode == 0, again.stdout[-4000:]
    assert _fingerprints() == renewed
    assert set(changed_counts(again.stdout)) == {0}, again.stdout[-3000:]


def _ran_once_a_host(output, task, module=None):
    """In a -vvv run: every host that ran TASK ran it once, and its MODULE (if any) once (a task
    that runs twice, as a role's own preflight after the playbook's, shows its hosts twice).
    Returns those hosts."""
    out = task_output(output, task)
    hosts = re.findall(r'^ok: \[([^\]]+)\]', out, re.M)
    uses = len(re.findall(r'Using module file \S+/%s\.py' % module, out)) if module else len(hosts)
    assert hosts and uses == len(set(hosts)) == len(hosts), (task, uses, hosts, out[-2000:])
    return hosts


def test_a_class_outside_the_allowlist_is_refused():
    proc = playbook('molecule/resources/production-job.yml', '-e', 'job_src=molecule/resources/jobs/forbidden.py',
                    '-e', 'job_name=forbidden', '-e', '{"job_timeout": 180, "job_expected_result": null}')
    out = ' '.join(proc.stdout.split())
    assert proc.returncode != 0, proc.stdout[-3000:]
    assert "global 'decimal.Decimal' is forbidden" in out, proc.stdout[-5000:]
    # The receiving party, bob, is the one named, with the refusal in its own part of the report.
    failed = re.search(r'The job failed on ([a-z, ]+);', out)
    assert failed and 'bob' in failed.group(1).split(', '), out[-3000:]
    marker = '--- bob (%s):' % HEADS['bob']
    assert marker in out, out[-3000:]
    bob = out.split(marker, 1)[1].split(' --- ')[0]
    assert "global 'decimal.Decimal' is forbidden" in bob, out[-3000:]
