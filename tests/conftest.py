"""Shared fixtures for every test file. Other test files may use them freely.

Why these shapes: most tests only *read* certificates, and key generation is the
slow part (RSA-4096 takes seconds on a loaded machine), so the throwaway PKI is
built once per session with ECDSA P-256 and shared. Tests that write files get a
fresh folder (``course_dir``, built on ``tmp_path``); tests that only read files
share one (``shared_course_dir``). Nothing here touches the project's ``certs/``.

Fixtures (never remove one once committed; other files depend on them):

==========================  =========  ==================================================
fixture                     scope      what it is
==========================  =========  ==================================================
``throwaway_pki``           session    :class:`ThrowawayPKI`: root, intermediate, server, client
``root_ca``                 session    the root CA (ECDSA P-256, self-signed)
``intermediate_ca``         session    intermediate CA signed by ``root_ca`` (pathlen 0)
``server_identity``         session    server leaf for localhost + 127.0.0.1, from the intermediate
``client_identity``         session    client leaf CN=alice, email + SPIFFE URI SAN, from the intermediate
``unrelated_ca``            session    a second root CA that nobody trusts
``rsa4096_root_ca``         session    an RSA-4096 root (made at most once per session: slow)
``ed25519_ca``              session    a root CA with an Ed25519 key ("Ed CA"): the EdDSA lessons
``course_dir``              function   ``coursepki.init(tmp_path / "certs")``: the guide's file set, writable
``shared_course_dir``       session    the same file set, built once; treat it as READ-ONLY
``run_lab``                 session    run ``python -m lab ARGS`` in a subprocess -> :class:`LabRun`
``openssl``                 session    run the real ``openssl`` binary -> :class:`subprocess.CompletedProcess`
==========================  =========  ==================================================
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from lab.course import coursepki
from lab.pki import CertificateAuthority, IssuedCertificate

ROOT = Path(__file__).resolve().parent.parent

#: The client identity's SAN values (tests compare against them).
CLIENT_EMAIL = "alice@lab.test"
CLIENT_SPIFFE_ID = "spiffe://lab.test/ns/payments/sa/alice"


# ------------------------------------------------------------- in-memory PKI
@dataclass(frozen=True)
class ThrowawayPKI:
    """A correct two-level PKI, all ECDSA P-256: root -> intermediate -> server/client leaves.

    The leaves carry the intermediate in their ``chain``, as a real server or
    client would present it.
    """

    root: CertificateAuthority
    intermediate: CertificateAuthority
    server: IssuedCertificate
    client: IssuedCertificate


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the marks
def pytest_collection_modifyitems(config, items):
    """Group the tests for pytest-xdist's ``--dist loadgroup`` (how ``make test`` runs them).

    One group per test file, so that a file's module fixtures (a JupyterLab, an nginx) start
    once. The browser test and strict nbval share one group: both run the notebooks against
    certs/, and two kernels running the same notebook at once would write the same files.
    """
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        path = str(item.path)
        in_certs = path.endswith((".ipynb", "test_browser.py"))
        item.add_marker(pytest.mark.xdist_group("notebooks in certs/" if in_certs else path))


# ------------------------------------------------- no keys left in the temp folder
#: What the lab names the folders it makes (nginx prefixes, scratch folders) when it uses the
#: system temp folder. Any such folder still there after the run may hold private keys.
LEFTOVER_GLOB = "mtls-lab-*"


def _temp_folders() -> list[Path]:
    """The system temp folder ($TMPDIR, which macOS points elsewhere) and /tmp."""
    return sorted({Path(tempfile.gettempdir()), Path("/tmp")})


def _lab_leftovers() -> set[Path]:
    return {p for d in _temp_folders() if d.is_dir() for p in d.glob(LEFTOVER_GLOB)}


def pytest_sessionstart(session):
    session.config._lab_leftovers_before = _lab_leftovers()


def pytest_sessionfinish(session, exitstatus):
    """Fail the run if it left a new ``mtls-lab-*`` folder in the system temp folder.

    Why a session hook and not a test: the folders are left by whatever ran last (a
    notebook's kernel, stopped by nbval without running ``atexit``; a test's nginx), so the
    check can only run once everything, on every xdist worker, has finished. It runs in the
    controller (or the only process), never in an xdist worker.
    """
    if hasattr(session.config, "workerinput"):
        return
    new = sorted(_lab_leftovers() - session.config._lab_leftovers_before)
    if new:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = [f"this run left {len(new)} folder(s) that may hold keys in the temp folder:"]
        lines += [f"  {p}" for p in new]
        if reporter is not None:
            reporter.ensure_newline()
            reporter.write_line("\n".join(lines), red=True)
        else:
            print("\n".join(lines))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def throwaway_pki() -> ThrowawayPKI:
    root = CertificateAuthority.create("Test Root CA")
    intermediate = root.create_intermediate("Test Issuing CA")
    server = intermediate.issue_server("localhost", "127.0.0.1")
    client = intermediate.issue_client("alice", email=CLIENT_EMAIL, uri=CLIENT_SPIFFE_ID)
    return ThrowawayPKI(root, intermediate, server, client)


@pytest.fixture(scope="session")
def root_ca(throwaway_pki) -> CertificateAuthority:
    return throwaway_pki.root


@pytest.fixture(scope="session")
def intermediate_ca(throwaway_pki) -> CertificateAuthority:
    return throwaway_pki.intermediate


@pytest.fixture(scope="session")
def server_identity(throwaway_pki) -> IssuedCertificate:
    return throwaway_pki.server


@pytest.fixture(scope="session")
def client_identity(throwaway_pki) -> IssuedCertificate:
    return throwaway_pki.client


@pytest.fixture(scope="session")
def unrelated_ca() -> CertificateAuthority:
    """A root CA that has nothing to do with ``root_ca``: its certificates must be refused."""
    return CertificateAuthority.create("Unrelated Root CA")


@pytest.fixture(scope="session")
def rsa4096_root_ca() -> CertificateAuthority:
    """The guide's root key size. Generating RSA-4096 is slow: use this, never make another."""
    return CertificateAuthority.create("Test RSA Root CA", key_type="rsa4096")


@pytest.fixture(scope="session")
def ed25519_ca() -> CertificateAuthority:
    """A root CA named "Ed CA" with an Ed25519 key: accepted by OpenSSL, refused by WebPKI."""
    return CertificateAuthority.create("Ed CA", key_type="ed25519")


# --------------------------------------------------------- the guide's files
@pytest.fixture
def course_dir(tmp_path) -> Path:
    """A fresh, writable course PKI (``coursepki.init``) in ``tmp_path/certs``."""
    directory = tmp_path / "certs"
    coursepki.init(directory)
    return directory


@pytest.fixture(scope="session")
def shared_course_dir(tmp_path_factory) -> Path:
    """A course PKI built once per session. READ-ONLY: use ``course_dir`` to modify files."""
    directory = tmp_path_factory.mktemp("shared") / "certs"
    coursepki.init(directory)
    return directory


# ------------------------------------------------------------- subprocesses
@dataclass(frozen=True)
class LabRun:
    """The outcome of one ``python -m lab ...`` run."""

    rc: int
    stdout: str
    stderr: str

    @property
    def has_traceback(self) -> bool:
        return "Traceback (most recent call last)" in self.stdout + self.stderr


@pytest.fixture(scope="session")
def run_lab(tmp_path_factory):
    """Return ``run(*args, cwd=None, env=None, timeout=120) -> LabRun``.

    Uses ``sys.executable`` (the .venv's Python), so the installed ``lab`` runs.
    ``LAB_CERTS_DIR`` points at a throwaway folder unless ``env`` sets it, so a
    command that forgets ``--dir`` can never write into the project's ``certs/``.
    """
    default_certs = tmp_path_factory.mktemp("default-certs")

    def run(*args, cwd=None, env=None, timeout=120) -> LabRun:
        full_env = {**os.environ, "LAB_CERTS_DIR": str(default_certs), **(env or {})}
        full_env.pop("LAB_DEBUG", None)
        proc = subprocess.run(
            [sys.executable, "-m", "lab", *map(str, args)],
            cwd=cwd or ROOT,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return LabRun(proc.returncode, proc.stdout, proc.stderr)

    return run


@pytest.fixture(scope="session")
def openssl():
    """Return ``run(*args, input=None, cwd=None, check=False) -> CompletedProcess`` for the real openssl.

    Output is text, except when ``input`` is bytes (a binary pipeline such as
    ``openssl dgst -binary``): then stdout/stderr are bytes too.

    openssl is a course prerequisite (.ci/run installs it), so its absence is a
    failure, not a skip.
    """
    binary = shutil.which("openssl")
    assert binary, (
        "the openssl binary is missing: install it (apt-get install openssl), .ci/run does"
    )

    def run(*args, input=None, cwd=None, check=False) -> subprocess.CompletedProcess:
        return subprocess.run(
            [binary, *map(str, args)],
            input=input,
            cwd=cwd,
            capture_output=True,
            text=isinstance(input, str) or input is None,
            timeout=60,
            check=check,
        )

    return run


def forge_client(ca: CertificateAuthority, common_name: str, organization: str | None = None):
    """A client certificate with a name ``lab.pki`` refuses to issue, signed by ``ca``.

    The lab's CA refuses control characters and DN-like CNs; another CA, or an attacker
    holding a CA key, need not. Tests of what the *server* does with such a name build the
    certificate the way any CA could: cryptography's builder, with no name checks.
    """
    import datetime as _dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:  # O before CN, as lab.pki orders them (RFC 4514 prints CN first)
        attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    now = _dt.datetime.now(_dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(attrs))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(minutes=5))
        .not_valid_after(now + _dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
        .sign(ca.key, hashes.SHA256())
    )
    return IssuedCertificate(cert, key, [] if ca.is_root else [ca.cert, *ca.chain])


@pytest.fixture(autouse=True)
def messages_on_one_line(monkeypatch):
    """Tests read the lab's messages whole, as logs and the CLI print them; notebooks wrap them
    at lab.course.text.WIDTH (tests/test_observe.py checks the wrapping itself)."""
    from lab.course import text

    monkeypatch.setattr(text, "WIDTH", None)
