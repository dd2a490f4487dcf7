"""``python -m lab serve`` as a learner runs it: a real subprocess, the real curl, real signals.

Done-when of issue 3: the serve command plus the curl command it prints returns
``Hello CN=MyTrustedClient``; curl without ``--cert`` is refused (and the server
says why, in one line); Ctrl-C stops it cleanly; missing certificates and a
taken port are one-line errors, never tracebacks. Every subprocess is killed in a
``finally``.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CURL = shutil.which("curl")
HELLO = "Hello CN=MyTrustedClient,O=mTLS Lab"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Serve:
    """A running ``python -m lab serve``, with its output collected line by line."""

    def __init__(self, *args: str):
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("LAB_DEBUG", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lab", "serve", *map(str, args)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(stream, lines), daemon=True)
            for stream, lines in ((self.proc.stdout, self.stdout), (self.proc.stderr, self.stderr))
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream, lines):
        for line in stream:
            lines.append(line.rstrip("\n"))

    def wait_for(self, lines: list[str], predicate, timeout: float = 30) -> str:
        """The first line of ``lines`` matching ``predicate``; fails if the process dies or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(lines):
                if predicate(line):
                    return line
            if self.proc.poll() is not None and not any(r.is_alive() for r in self._readers):
                break
            time.sleep(0.05)
        pytest.fail(
            f"serve never printed the expected line; rc={self.proc.poll()}\n"
            f"stdout: {self.stdout}\nstderr: {self.stderr}"
        )

    def ready(self) -> "Serve":
        self.wait_for(self.stdout, lambda line: line == "Ctrl-C to stop")
        return self

    def finish(self, sig=signal.SIGINT, timeout: float = 10) -> int:
        self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=5)
        return rc

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def serve():
    """``serve(*args)`` -> a started :class:`Serve`, ready to answer; killed after the test whatever happens."""
    started: list[Serve] = []

    def start(*args: str) -> Serve:
        s = Serve(*args)
        started.append(s)
        return s.ready()

    yield start
    for s in started:
        s.kill()


@pytest.fixture(scope="module")
def certs(shared_course_dir) -> Path:
    return shared_course_dir


def run_curl(*args) -> subprocess.CompletedProcess:
    assert CURL, "the curl binary is missing: install it (apt-get install curl)"
    return subprocess.run(
        [CURL, "-sS", "--max-time", "10", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
    )


# --------------------------------------------------------------- it serves
def test_serve_prints_the_url_and_the_curl_command(serve, certs):
    port = free_port()
    s = serve("--certs", certs, "--port", port)
    assert s.stdout[:3] == [
        f"mTLS demo API on https://localhost:{port} (client certificate: require)",
        f"try:  curl --cert {certs}/client.crt --key {certs}/client.key --cacert {certs}/rootCA.pem "
        f"https://localhost:{port}/api/secure",
        "Ctrl-C to stop",
    ]


def test_the_printed_curl_command_returns_hello_mytrustedclient(serve, certs):
    s = serve("--certs", certs, "--port", free_port())
    command = s.wait_for(s.stdout, lambda line: line.startswith("try:  ")).removeprefix("try:  ")
    proc = run_curl(*shlex.split(command)[1:])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == HELLO


def test_curl_without_cert_is_refused_and_serve_logs_one_line_with_the_reason(serve, certs):
    port = free_port()
    s = serve("--certs", certs, "--port", port)
    proc = run_curl("--cacert", certs / "rootCA.pem", f"https://localhost:{port}/api/secure")
    assert proc.returncode != 0 and proc.stdout == ""
    line = s.wait_for(s.stderr, lambda line: "refused handshake" in line)
    assert line.startswith("refused handshake from 127.0.0.1:")
    assert line.endswith(": peer did not return a certificate")
    assert s.finish() == 0
    assert s.stderr == [line]  # exactly one line for one refusal, and nothing else


def test_mode_optional_serves_public_without_a_certificate(serve, certs):
    port = free_port()
    s = serve("--certs", certs, "--port", port, "--mode", "optional")
    assert (
        s.stdout[0] == f"mTLS demo API on https://localhost:{port} (client certificate: optional)"
    )
    public = run_curl("--cacert", certs / "rootCA.pem", f"https://localhost:{port}/api/public")
    secure = run_curl(
        "--cacert",
        certs / "rootCA.pem",
        "-w",
        " %{http_code}",
        f"https://localhost:{port}/api/secure",
    )
    assert (public.returncode, public.stdout) == (0, "Hello anonymous (no client certificate)")
    assert secure.returncode == 0 and secure.stdout.endswith(" 403")


# ----------------------------------------------------------------- it stops
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_serve_with_exit_0(serve, certs, sig):
    port = free_port()
    s = serve("--certs", certs, "--port", port)
    assert s.finish(sig) == 0
    assert s.stdout[-1] == "stopped"
    assert not any("Traceback" in line for line in s.stderr)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


# ------------------------------------------------------------ it explains
def test_missing_certs_exit_1_with_one_line_pointing_to_pki_init(run_lab, tmp_path):
    result = run_lab("serve", "--certs", tmp_path / "no-certs-here", "--port", "0", timeout=60)
    assert result.rc == 1
    assert not result.has_traceback
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: ") and "pki init" in result.stderr


def test_a_taken_port_exits_1_with_one_line(run_lab, certs):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    try:
        port = holder.getsockname()[1]
        result = run_lab("serve", "--certs", certs, "--port", port, timeout=60)
    finally:
        holder.close()
    assert result.rc == 1
    assert not result.has_traceback
    assert (
        result.stderr
        == f"error: port {port} on 127.0.0.1 is already in use; stop the other server or "
        f"choose another port (0 picks a free one)\n"
    )


def test_a_non_loopback_host_exits_1_with_one_line(run_lab, certs):
    result = run_lab("serve", "--certs", certs, "--host", "0.0.0.0", "--port", "0", timeout=60)
    assert result.rc == 1
    assert not result.has_traceback
    assert result.stderr.count("\n") == 1 and "loopback" in result.stderr


def test_an_allow_subject_that_is_neither_a_cn_nor_a_dn_is_a_usage_error(run_lab, certs):
    args = ("--certs", certs, "--port", "0", "--allow-subject", "O=mTLS Lab,CN=MyTrustedClient")
    result = run_lab("serve", *args, timeout=60)
    assert result.rc == 2 and not result.has_traceback
    assert "a full subject DN starts with CN=" in result.stderr


@pytest.mark.parametrize("entry", ["", "   "])
def test_an_empty_allow_subject_is_a_usage_error_never_an_allow_all(run_lab, certs, entry):
    """An unset "$VAR" in a script must not turn the allow-list off (before: 200 for any CN-less cert)."""
    result = run_lab("serve", "--certs", certs, "--port", "0", "--allow-subject", entry, timeout=60)
    assert result.rc == 2 and not result.has_traceback
    assert "--allow-subject" in result.stderr


def test_serve_help_exits_0_and_lists_the_modes(run_lab):
    result = run_lab("serve", "--help", timeout=60)
    assert result.rc == 0
    assert "--mode {require,optional,none}" in result.stdout
    assert "--dir" in result.stdout and "--port" in result.stdout


def test_serve_logs_each_authorization_decision_as_one_line(serve, certs):
    port = free_port()
    s = serve("--certs", certs, "--port", port, "--allow-subject", "MyTrustedClient")
    proc = run_curl(
        "--cert",
        certs / "client.crt",
        "--key",
        certs / "client.key",
        "--cacert",
        certs / "rootCA.pem",
        f"https://localhost:{port}/api/secure",
    )
    assert proc.stdout == HELLO
    line = s.wait_for(s.stderr, lambda line: line.startswith("authorization "))
    assert line == (
        "authorization allowed GET /api/secure for CN=MyTrustedClient,O=mTLS Lab "
        "[allow_subjects(MyTrustedClient)]"
    )
