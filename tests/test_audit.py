"""The audit in CI: the sslyze command notebook 10 types, against the lab's own servers.

sslyze 6.3.1 checks each server against Mozilla's intermediate profile as it bundles it
(guideline 5.7; the lab follows 6.0, a subset), with the course client certificate:
``sslyze --cert … --key … --certinfo_ca_file … --mozilla_config=intermediate HOST:PORT``.
Its exit code and its compliance lines are the verdict; ``--json_out`` gives the details.
``python -m lab serve`` and ``serve --behind-nginx`` (real subprocesses, as a learner runs
them) must be compliant; a server left with Python's defaults must not be. sslyze lives in
``.venv/audit`` (``make audit-tools``): missing locally, these tests skip in one line; with
CI set, they fail.
"""

from __future__ import annotations

import json
import os
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from lab.course import check
from lab.course.demo import create_app
from lab.pki import CertificateAuthority
from lab.tls import client
from lab.tls.server import MTLSServer

ROOT = Path(__file__).resolve().parent.parent
SSLYZE = ROOT / ".venv" / "audit" / "bin" / "sslyze"
HELLO = "Hello CN=MyTrustedClient,O=mTLS Lab"
INTERMEDIATE_SUITES = {
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
}
TLS13_SUITES = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}


@pytest.fixture(scope="module", autouse=True)
def sslyze_available():
    if not SSLYZE.exists():
        if os.environ.get("CI"):
            pytest.fail("sslyze is not installed: run make audit-tools")
        pytest.skip("sslyze is not installed (make audit-tools)")


@dataclass
class Scan:
    """One sslyze run: the process (its exit code and report) and its JSON document."""

    run: subprocess.CompletedProcess
    details: dict

    @property
    def compliant(self) -> bool:
        return self.run.returncode == 0 and ": OK - Compliant." in self.run.stdout

    @property
    def issues(self) -> dict[str, str]:
        return dict(re.findall(r"^\s+\* (\w+): (.*)$", self.run.stdout, re.M))

    def accepted(self, version: str) -> set[str]:
        result = self.details["scan_result"][f"{version}_cipher_suites"]["result"]
        return {s["cipher_suite"]["name"] for s in result["accepted_cipher_suites"]}

    @property
    def curves(self) -> list[str]:
        return [
            c["name"]
            for c in self.details["scan_result"]["elliptic_curves"]["result"]["supported_curves"]
        ]

    @property
    def deployment(self) -> dict:
        return self.details["scan_result"]["certificate_info"]["result"]["certificate_deployments"][
            0
        ]

    @property
    def chain(self) -> list[str]:
        names = [
            c["subject"]["rfc4514_string"] for c in self.deployment["received_certificate_chain"]
        ]
        return [re.search(r"CN=([^,]+)", n)[1] for n in names]


def sslyze(folder: Path, port: int, tmp_path: Path, *, cert=True, profile="intermediate") -> Scan:
    """The notebook's command, with the PKI in ``folder``; ``--json_out`` for the details."""
    options = ["--cert", folder / "client.crt", "--key", folder / "client.key"] if cert else []
    out = tmp_path / f"scan-{port}-{cert}.json"
    run = subprocess.run(
        [SSLYZE, *options, "--certinfo_ca_file", folder / "rootCA.pem",
         f"--mozilla_config={profile}", "--json_out", out, f"localhost:{port}"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    document = json.loads(out.read_text())["server_scan_results"][0]
    return Scan(run, document)


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


def assert_hardened(scan: Scan) -> None:
    assert scan.details["connectivity_status"] == "COMPLETED", scan.run.stdout
    for legacy in ("ssl_2_0", "ssl_3_0", "tls_1_0", "tls_1_1"):
        assert scan.accepted(legacy) == set(), legacy
    assert scan.accepted("tls_1_2") == INTERMEDIATE_SUITES  # ECDHE + AEAD only, no CBC
    assert scan.accepted("tls_1_3") == TLS13_SUITES
    details = scan.details["scan_result"]
    assert details["tls_fallback_scsv"]["result"]["supports_fallback_scsv"]
    assert details["session_renegotiation"]["result"]["supports_secure_renegotiation"]
    assert details["tls_extended_master_secret"]["result"]["supports_ems_extension"]
    assert not details["tls_compression"]["result"]["supports_compression"]
    assert scan.deployment["verified_certificate_chain"] is not None


def test_lab_serve_is_mozilla_intermediate_compliant_and_requires_the_client_certificate(
    serve, shared_course_dir, tmp_path
):
    port = serve("--certs", shared_course_dir).port("mTLS demo API on")
    scan = sslyze(shared_course_dir, port, tmp_path)
    assert scan.compliant, scan.run.stdout
    assert scan.issues == {}
    assert_hardened(scan)
    assert scan.curves == ["secp256r1"]  # the one group Python 3.11 can set
    assert scan.chain[0] == "localhost"
    anonymous = sslyze(shared_course_dir, port, tmp_path, cert=False)
    assert anonymous.details["connectivity_result"]["client_auth_requirement"] == "REQUIRED"
    assert "Server REQUIRED client authentication" in anonymous.run.stdout  # what 10 prints


def test_serve_behind_nginx_is_compliant_sends_no_root_and_accepts_the_certificate(
    serve, shared_course_dir, tmp_path
):
    port = serve("--certs", shared_course_dir, "--behind-nginx").port("nginx")
    scan = sslyze(shared_course_dir, port, tmp_path)
    assert scan.compliant, scan.run.stdout
    assert_hardened(scan)
    assert scan.curves == ["X25519", "secp256r1", "secp384r1"]  # ssl_ecdh_curve, the profile's list
    assert (
        scan.chain == ["localhost"]
        and not scan.deployment["received_chain_contains_anchor_certificate"]
    )
    # nginx finishes every handshake and refuses at the HTTP layer (496), so at the TLS
    # layer sslyze sees the certificate as optional; the app answers the certificate's owner.
    anonymous = sslyze(shared_course_dir, port, tmp_path, cert=False)
    assert anonymous.details["connectivity_result"]["client_auth_requirement"] == "OPTIONAL"
    d = shared_course_dir
    with client.session((d / "client.crt", d / "client.key"), trust=d / "rootCA.pem") as s:
        assert s.get(f"https://localhost:{port}/api/secure", timeout=10).text == HELLO


def test_python_defaults_fail_the_audit_and_the_exercise_check_says_why(
    shared_course_dir, tmp_path, capsys
):
    d = shared_course_dir
    weak = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)  # notebook 10's server left with the defaults
    weak.load_cert_chain(d / "server.crt", d / "server.key")
    weak.load_verify_locations(d / "rootCA.pem")
    weak.verify_mode = ssl.CERT_REQUIRED
    server = MTLSServer(
        create_app(),
        certificate=(d / "server.crt", d / "server.key"),
        trust=d / "rootCA.pem",
        raise_errors=False,
    )
    server.context = weak
    with server:
        scan = sslyze(d, server.port, tmp_path)
    assert not scan.compliant and scan.run.returncode == 1
    assert set(scan.issues) == {"ciphers", "tls_curves"}
    assert "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256" in scan.issues["ciphers"]
    assert {"X448", "secp521r1"} <= set(scan.curves)
    assert not check.exercise_audit(weak, scan.run)
    assert re.search(
        r"TLS_ECDHE_ECDSA_WITH_AES_\d+_CBC_SHA\d+ is still accepted", capsys.readouterr().out
    )


def test_the_exercise_check_wants_compliance_and_a_demanded_certificate(
    serve, shared_course_dir, tmp_path, capsys
):
    from lab.tls import contexts

    port = serve("--certs", shared_course_dir).port("mTLS demo API on")
    scan = sslyze(shared_course_dir, port, tmp_path)
    d = shared_course_dir
    hardened = contexts.server_context((d / "server.crt", d / "server.key"), d / "rootCA.pem")
    assert check.exercise_audit(hardened, scan.run)
    optional = contexts.server_context(
        (d / "server.crt", d / "server.key"), d / "rootCA.pem", mode="optional"
    )
    assert not check.exercise_audit(optional, scan.run)
    assert not check.exercise_audit(hardened, "OK - Compliant")  # a printout is not a scan
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("✅") and all(line.startswith("💡") for line in lines[1:])
    assert "no longer demands a client certificate" in lines[1]


def test_with_an_issuing_ca_the_python_server_sends_leaf_and_intermediate_only(tmp_path):
    root = CertificateAuthority.create("Audit Root CA")
    issuing = root.create_intermediate("Audit Issuing CA")
    files = _client_files(tmp_path, root)
    srv = issuing.issue_server("localhost", "127.0.0.1")
    with MTLSServer(create_app(), certificate=srv, trust=root, raise_errors=False) as server:
        scan = sslyze(files, server.port, tmp_path)
    assert scan.compliant, scan.run.stdout
    assert scan.chain == ["localhost", "Audit Issuing CA"]
    assert not scan.deployment["received_chain_contains_anchor_certificate"]


def test_the_modern_profile_is_tls13_only_and_compliant_with_a_90_day_certificate(tmp_path):
    root = CertificateAuthority.create("Audit Root CA")
    files = _client_files(tmp_path, root)
    srv = root.issue_server("localhost", "127.0.0.1", days=90)
    with MTLSServer(
        create_app(), certificate=srv, trust=root, profile="modern", raise_errors=False
    ) as server:
        scan = sslyze(files, server.port, tmp_path, profile="modern")
    assert scan.compliant, scan.run.stdout
    assert scan.accepted("tls_1_2") == set() and scan.accepted("tls_1_3") == TLS13_SUITES


def _client_files(directory: Path, root: CertificateAuthority) -> Path:
    root.write(directory / "rootCA")
    root.issue_client("MyTrustedClient").write(directory / "client")
    return directory
