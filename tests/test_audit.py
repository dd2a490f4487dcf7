"""The audit in CI: sslyze, with the course client certificate, against the lab's own servers.

sslyze 6.3.1 checks each server against Mozilla's intermediate profile (its bundled
guideline 5.7; the lab follows 6.0, a subset) exactly as ``sslyze --mozilla_config=intermediate`` does. Three targets:
``python -m lab serve`` and ``python -m lab serve --behind-nginx`` (real
subprocesses, as a learner runs them) must be compliant; a server left with
Python's defaults must not be. sslyze lives in ``.venv/audit`` (it needs
cryptography<47): missing locally, these tests skip in one line; with CI set, fail.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from lab.course.demo import create_app
from lab.ops import audit
from lab.pki import CertificateAuthority
from lab.tls import client
from lab.tls.server import MTLSServer

ROOT = Path(__file__).resolve().parent.parent
HELLO = "Hello CN=MyTrustedClient,O=mTLS Lab"
INTERMEDIATE_SUITES = {
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
}
TLS13_SUITES = ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"]


@pytest.fixture(scope="module", autouse=True)
def sslyze_available():
    python = audit.sslyze_python()
    ok = (
        python is not None
        and subprocess.run(
            [python, "-I", "-c", "import sslyze"], capture_output=True, check=False
        ).returncode
        == 0
    )
    if not ok:
        if os.environ.get("CI"):
            pytest.fail(audit.INSTALL_HINT)
        pytest.skip("sslyze is not installed (make audit-tools)")


def scan(course: Path, port: int, **options) -> audit.Audit:
    return audit.scan(
        "127.0.0.1",
        port,
        cert=course / "client.crt",
        key=course / "client.key",
        ca=course / "rootCA.pem",
        **options,
    )


class Serve:
    """``python -m lab serve ARGS`` in the background; the port it printed."""

    def __init__(self, *args):
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lab", "serve", "--port", "0", *map(str, args)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        threading.Thread(
            target=lambda: self.lines.extend(line.rstrip() for line in self.proc.stdout),
            daemon=True,
        ).start()

    def port(self, prefix: str, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            for line in list(self.lines):
                m = re.match(rf"{prefix}.*https://localhost:(\d+)", line)
                if m and any(x.startswith("Ctrl-C") for x in self.lines):
                    return int(m.group(1))
            time.sleep(0.05)
        pytest.fail(f"serve did not start: rc={self.proc.poll()} output={self.lines}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # serve stops nginx on Ctrl-C
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


@pytest.fixture
def serve():
    started: list[Serve] = []

    def start(*args) -> Serve:
        started.append(Serve(*args))
        return started[-1]

    yield start
    for s in started:
        s.stop()


def assert_hardened(result: audit.Audit) -> None:
    assert result.connected_with_certificate, result.error
    assert result.protocols == ["TLS 1.2", "TLS 1.3"]
    assert set(result.tls12_suites) == INTERMEDIATE_SUITES  # ECDHE + AEAD only, no CBC
    assert result.tls13_suites == TLS13_SUITES
    assert result.fallback_scsv and result.secure_renegotiation and result.extended_master_secret
    assert not result.compression and not result.legacy_suites
    assert result.chain_trusted


def test_lab_serve_is_mozilla_intermediate_compliant_and_requires_the_client_certificate(
    serve, shared_course_dir
):
    port = serve("--certs", shared_course_dir).port("mTLS demo API on")
    result = scan(shared_course_dir, port)
    assert result.compliant, result.issues
    assert result.issues == {}
    assert result.client_auth == "REQUIRED"  # sslyze without a certificate is refused
    assert_hardened(result)
    assert result.curves == ["secp256r1"]  # the one group Python 3.11 can set
    assert result.chain[0] == "localhost"


def test_serve_behind_nginx_is_compliant_sends_no_root_and_accepts_the_certificate(
    serve, shared_course_dir
):
    port = serve("--certs", shared_course_dir, "--behind-nginx").port("nginx")
    result = scan(shared_course_dir, port)
    assert result.compliant, result.issues
    assert_hardened(result)
    assert result.curves == [
        "X25519",
        "secp256r1",
        "secp384r1",
    ]  # ssl_ecdh_curve, the profile's list
    assert result.chain == ["localhost"] and not result.anchor_sent
    # nginx finishes every handshake and refuses at the HTTP layer (496), so at the TLS
    # layer sslyze sees the certificate as optional; the app answers the certificate's owner.
    assert result.client_auth == "OPTIONAL"
    d = shared_course_dir
    with client.session((d / "client.crt", d / "client.key"), trust=d / "rootCA.pem") as s:
        assert s.get(f"https://localhost:{port}/api/secure", timeout=10).text == HELLO


def test_a_server_left_with_python_defaults_fails_the_audit(shared_course_dir):
    from lab.course import coursepki

    course = coursepki.load(shared_course_dir)
    server = MTLSServer(
        create_app(), certificate=course.server, trust=course.ca, raise_errors=False
    )  # sslyze probes break connections on purpose
    server.context = audit.unhardened_context(course.server, course.ca)
    with server:
        result = scan(shared_course_dir, server.port)
    assert not result.compliant
    assert set(result.issues) == {"ciphers", "tls_curves"}
    assert "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256" in result.issues["ciphers"]
    assert "{X448, secp521r1}" in result.issues["tls_curves"]
    assert result.anchor_sent and result.chain == ["localhost", "mTLS Lab Root CA"]
    assert result.client_auth == "REQUIRED" and result.connected_with_certificate
    assert any(
        line == "verdict: NOT compliant with Mozilla intermediate 5.7 (sslyze 6.3.1)"
        for line in result.lines()
    )


def test_with_an_issuing_ca_the_python_server_sends_leaf_and_intermediate_only(tmp_path):
    root = CertificateAuthority.create("Audit Root CA")
    issuing = root.create_intermediate("Audit Issuing CA")
    files = _client_files(tmp_path, root, root)
    srv = issuing.issue_server("localhost", "127.0.0.1")
    with MTLSServer(create_app(), certificate=srv, trust=root, raise_errors=False) as server:
        result = scan(files, server.port)
    assert result.compliant, result.issues
    assert result.chain == ["localhost", "Audit Issuing CA"] and not result.anchor_sent


def test_the_modern_profile_is_tls13_only_and_compliant_with_a_90_day_certificate(tmp_path):
    root = CertificateAuthority.create("Audit Root CA")
    files = _client_files(tmp_path, root, root)
    srv = root.issue_server("localhost", "127.0.0.1", days=90)
    with MTLSServer(
        create_app(), certificate=srv, trust=root, profile="modern", raise_errors=False
    ) as server:
        result = scan(files, server.port, profile="modern")
    assert result.compliant, result.issues
    assert result.protocols == ["TLS 1.3"] and result.tls12_suites == []
    assert result.client_auth == "REQUIRED"


def _client_files(
    directory: Path, root: CertificateAuthority, issuer: CertificateAuthority
) -> Path:
    root.write(directory / "rootCA")
    issuer.issue_client("MyTrustedClient").write(directory / "client")
    return directory
