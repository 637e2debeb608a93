"""The daemon's life on a loaded machine: a failure logged once, SIGTERM during a poll, a full disk at start, a community named like its device; each test waits, bounded, for what it needs in the daemon's log."""

from __future__ import annotations

import subprocess


def test_a_failure_is_logged_once_when_it_starts_and_once_when_it_ends(site, sshd, tmp_path):
    """Five SSH hosts that never speak, a dead SMTP server and a dead Alertmanager, polled for a few
    seconds by `oti-agent serve`: each failure one line, no tracebacks, whatever the number of runs."""
    import signal
    import socket
    import time

    from tests.peers.common import free_tcp_port

    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead.listen(64)
    try:
        for i in range(5):
            site.ssh_device(f"muerto-{i}", sshd)
            site.hosts[f"muerto-{i}"]["oti_ssh"]["port"] = dead.getsockname()[1]
        site.group("servidores", [{"check": "ssh_host", "options": {"connect_timeout": 0.5}}],
                   interval="2s", timeout="1s")
        site.http_port = free_tcp_port()
        site.extra["mail"] = {"host": "127.0.0.1", "port": free_tcp_port(), "starttls": False,
                              "recipients": {"is": ["is@x.example"]}}
        site.extra["alerts"] = {"tick": "1s", "no_answer_runs": 1, "alertmanager": f"http://127.0.0.1:{free_tcp_port()}",
                                "policies": [{"name": "todo", "steps": [{"to": ["is"]}]}]}
        proc, log = _serve(site.write(), tmp_path)
        _wait_log(proc, log, "failing (")                        # the first run has failed...
        time.sleep(5)                                            # ...and two or three more
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        err = log.read_text()
    finally:
        dead.close()
    lines = err.splitlines()
    assert "Traceback" not in err, err[-3000:]
    for i in range(5):
        assert sum(f"muerto-{i} failing" in ln for ln in lines) == 1, err[-3000:]
    assert sum("outbox" in ln and "not sent" in ln for ln in lines) <= 1, err[-3000:]
    assert sum("alertmanager" in ln for ln in lines) <= 1, err[-3000:]
    assert len([ln for ln in lines if " ERROR " in ln or " WARNING " in ln]) <= 8, err[-3000:]


def test_sigterm_during_a_poll_stops_within_two_seconds_quietly(site, sshd, snmpsim):
    import signal
    import socket
    import time

    from tests.peers.common import free_tcp_port

    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead.listen(64)
    try:
        for i in range(3):
            site.ssh_device(f"muerto-{i}", sshd)
            site.hosts[f"muerto-{i}"]["oti_ssh"]["port"] = dead.getsockname()[1]
        site.group("servidores", [{"check": "ssh_host", "options": {"connect_timeout": 8}}], interval="30s",
                   timeout="9s")
        site.snmp_device("ups-01", "ups", "ups-rfc1628", site.v2c("ups", "ups-rfc1628"), snmpsim.port)
        site.group("energia", ["snmp"], interval="30s")
        site.http_port = free_tcp_port()
        proc, log = _serve(site.write(), site.root)
        _wait_log(proc, log, "metrics at")
        time.sleep(1.5)                                         # the dead hosts' probes are blocked in paramiko
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        took = time.monotonic() - t0
        err = log.read_text()
    finally:
        dead.close()
    assert proc.returncode == 0, err[-2000:]
    assert took < 2.0, f"stopped in {took:.1f}s"
    assert "Traceback" not in err and "CancelledError" not in err, err[-3000:]
    assert "stopping" in err


def test_a_full_disk_leaves_the_readers_working_and_serve_waiting_for_room(site, tmp_path):
    """The store's disk is full when the agent starts: `alerts` and `outbox list` still answer from what the
    store held, `serve` says which disk is full and waits; once there is room it starts by itself."""
    import time

    from tests.operator import cli
    from tests.peers.common import free_tcp_port, stop

    disk = tmp_path / "disco"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], check=True)
    try:
        site.hosts["ups-01"] = {"ansible_host": "127.0.0.1", "oti_kind": "ups"}
        site.http_port = free_tcp_port()
        site.extra["store"] = {"url": f"sqlite:///{disk}/oti.db", "retry_every": "1s"}
        config = site.write()
        assert cli(config, "alerts").returncode == 0                   # the store is made, room to spare
        with open(disk / "relleno", "wb") as f:                        # then the disk fills up
            try:
                while True:
                    f.write(b"\0" * 65536)
            except OSError:
                pass
        listed = cli(config, "alerts")
        assert listed.returncode == 0 and "Traceback" not in listed.stderr, listed.stderr
        assert "read-only" in listed.stderr and str(disk) in listed.stderr
        assert cli(config, "outbox", "list").returncode == 0

        proc, log = _serve(config, tmp_path)
        try:
            _wait_log(proc, log, "no room")                           # waiting, not gone
            time.sleep(1.5)                                            # a retry or two: said once
            (disk / "relleno").unlink()                                # room again
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and not _listening(site.http_port):
                time.sleep(0.2)
            assert _listening(site.http_port), "serve did not start once the disk had room"
        finally:
            stop(proc)
        err = log.read_text()
        assert err.count("no room") == 1 and str(disk) in err and "Traceback" not in err, err[-2000:]
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def _serve(config, workdir):
    """`oti-agent serve` with its log in a file the test can watch while it runs."""
    from tests.operator import OTI

    log = workdir / "serve.log"
    return subprocess.Popen([OTI, "serve", "-c", str(config)], stdout=subprocess.DEVNULL,
                            stderr=open(log, "w")), log


def _wait_log(proc, log, text: str, timeout: float = 60.0) -> None:
    """Wait (bounded) until the daemon's log says `text`; a loaded machine starts it slowly, not never."""
    import time

    deadline = time.monotonic() + timeout
    while text not in log.read_text():
        assert proc.poll() is None, f"serve exited with {proc.returncode}: {log.read_text()[-2000:]}"
        assert time.monotonic() < deadline, f"{text!r} not in the log within {timeout:g}s: {log.read_text()[-2000:]}"
        time.sleep(0.1)


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_a_community_named_like_its_device_does_not_blank_the_device_in_the_logs(site, snmpsim, tmp_path):
    """The demo names each community after its device: the logs still say which device, and the library
    texts that could carry a secret (an error of a transport) are the ones redacted."""
    import signal

    from tests.peers.common import free_tcp_port

    site.snmp_device("ups-rfc1628", "ups", "ups-rfc1628", site.v2c("ups", "ups-rfc1628"), snmpsim.port)
    site.group("ups-rfc1628", ["snmp"], interval="2s", timeout="1s")    # a group named like the community too
    site.http_port = free_tcp_port()
    proc, log = _serve(site.write(), tmp_path)
    _wait_log(proc, log, "group=ups-rfc1628 checks=1")
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=20)
    err = log.read_text()
    assert "*****" not in err and "group=ups-rfc1628 checks=1" in err, err[-2000:]

    from agent.core.secrets import library_text, resolve

    secret = tmp_path / "clave"
    secret.write_text("clave-muy-secreta\n")
    resolve(f"file:{secret}")
    said = library_text(RuntimeError("login failed for http://luis:clave-muy-secreta@10.0.0.5/ (clave-muy-secreta)"))
    assert "clave-muy-secreta" not in said and "luis" not in said and "10.0.0.5" in said
