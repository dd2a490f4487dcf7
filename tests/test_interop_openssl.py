"""The real openssl binary and lab agree: on purposes, on .pfx files, and on the guide's own certificates.

Two directions:

* openssl reads what lab writes (``pki init``'s file set, a throwaway PKI with an
  intermediate): ``openssl verify -purpose``, ``openssl pkcs12``, ``openssl pkey``.
* lab reads what openssl writes, starting with the guide's exact commands
  (``-subj`` and ``-passout`` added so they do not prompt), and says what those
  certificates lack (no SAN, no EKU) and what breaks because of it.
"""

from __future__ import annotations

import os
import stat
import subprocess

import pytest

from lab import pki
from lab.course import coursepki
from lab.errors import WrongPasswordError
from lab.pki import certinfo
from lab.pki.keys import key_matches
from lab.pki.verify import verify_chain

pytestmark = pytest.mark.interop

GUIDE_PFX_PASSWORD = "pfx-password"  # the guide's own placeholder, used here on purpose


def verify(openssl, ca_file, purpose, cert_file, *extra):
    return openssl("verify", "-CAfile", ca_file, *extra, "-purpose", purpose, cert_file)


# ------------------------------------------- openssl reads what pki init wrote
def test_openssl_verifies_the_server_certificate_for_sslserver(openssl, shared_course_dir):
    run = verify(
        openssl, shared_course_dir / "rootCA.pem", "sslserver", shared_course_dir / "server.crt"
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().endswith("server.crt: OK")


def test_openssl_verifies_the_client_certificate_for_sslclient(openssl, shared_course_dir):
    run = verify(
        openssl, shared_course_dir / "rootCA.pem", "sslclient", shared_course_dir / "client.crt"
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().endswith("client.crt: OK")


def test_openssl_refuses_the_server_certificate_for_sslclient(openssl, shared_course_dir):
    run = verify(
        openssl, shared_course_dir / "rootCA.pem", "sslclient", shared_course_dir / "server.crt"
    )
    assert run.returncode != 0
    assert "error 26 at 0 depth lookup: unsuitable certificate purpose" in run.stdout + run.stderr


def test_openssl_refuses_the_client_certificate_for_sslserver(openssl, shared_course_dir):
    run = verify(
        openssl, shared_course_dir / "rootCA.pem", "sslserver", shared_course_dir / "client.crt"
    )
    assert run.returncode != 0
    assert "error 26 at 0 depth lookup: unsuitable certificate purpose" in run.stdout + run.stderr


def test_openssl_verifies_a_chain_through_the_intermediate(openssl, throwaway_pki, tmp_path):
    throwaway_pki.root.write(tmp_path / "root")
    crt, _ = throwaway_pki.client.write(tmp_path / "alice")  # alice.crt = leaf + intermediate
    run = verify(openssl, tmp_path / "root.pem", "sslclient", crt, "-untrusted", crt)
    assert run.returncode == 0, run.stdout + run.stderr


def test_openssl_refuses_a_leaf_without_its_intermediate(openssl, throwaway_pki, tmp_path):
    throwaway_pki.root.write(tmp_path / "root")
    leaf = tmp_path / "leaf.pem"
    leaf.write_bytes(throwaway_pki.client.cert_pem)
    run = verify(openssl, tmp_path / "root.pem", "sslclient", leaf)
    assert run.returncode != 0
    assert "unable to get local issuer certificate" in run.stdout + run.stderr


def test_key_files_written_by_pki_init_have_mode_0600(shared_course_dir):
    secret = [
        "rootCA.key",
        "server.key",
        "client.key",
        "server.pfx",
        "client.pfx",
        "pfx-password.txt",
    ]
    modes = {name: stat.S_IMODE(os.stat(shared_course_dir / name).st_mode) for name in secret}
    assert modes == {name: 0o600 for name in secret}


def test_openssl_reads_our_private_keys(openssl, shared_course_dir):
    for name in ("rootCA.key", "server.key", "client.key"):
        run = openssl("pkey", "-in", shared_course_dir / name, "-noout")
        assert run.returncode == 0, (name, run.stderr)


def test_openssl_decrypts_our_encrypted_key_with_its_passphrase(openssl, client_identity, tmp_path):
    _, key = client_identity.write(tmp_path / "alice", password="k3y-pass")
    assert openssl("pkey", "-in", key, "-passin", "pass:k3y-pass", "-noout").returncode == 0
    assert openssl("pkey", "-in", key, "-passin", "pass:wrong", "-noout").returncode != 0


# ----------------------------------------------------------- .pfx and openssl
def test_openssl_pkcs12_reads_our_pfx_with_the_right_password(openssl, shared_course_dir):
    password = coursepki.read_password(shared_course_dir)
    run = openssl(
        "pkcs12", "-in", shared_course_dir / "client.pfx", "-passin", f"pass:{password}", "-nodes"
    )
    assert run.returncode == 0, run.stderr
    assert (
        "-----BEGIN CERTIFICATE-----" in run.stdout and "-----BEGIN PRIVATE KEY-----" in run.stdout
    )
    subject = next(line for line in run.stdout.splitlines() if line.startswith("subject="))
    assert "MyTrustedClient" in subject  # spacing of the name differs between openssl versions


def test_openssl_pkcs12_refuses_our_pfx_with_a_wrong_password(openssl, shared_course_dir):
    run = openssl(
        "pkcs12", "-in", shared_course_dir / "client.pfx", "-passin", "pass:wrong", "-nodes"
    )
    assert run.returncode != 0
    assert "invalid password" in run.stderr.lower()
    assert "BEGIN PRIVATE KEY" not in run.stdout


def test_our_pfx_is_encrypted_with_aes256_and_pbkdf2(openssl, server_identity, tmp_path):
    pfx = server_identity.to_pkcs12(tmp_path / "server.pfx", "pfx-pass-1")
    run = openssl("pkcs12", "-info", "-noout", "-in", pfx, "-passin", "pass:pfx-pass-1")
    assert run.returncode == 0, run.stderr
    info = run.stdout + run.stderr
    assert "Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC" in info
    assert "PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC" in info
    assert "MAC: sha256" in info


def test_lab_loads_a_pfx_exported_by_openssl(openssl, shared_course_dir, tmp_path):
    out = tmp_path / "client.pfx"
    run = openssl(
        "pkcs12",
        "-export",
        "-out",
        out,
        "-inkey",
        shared_course_dir / "client.key",
        "-in",
        shared_course_dir / "client.crt",
        "-passout",
        "pass:from-openssl",
    )
    assert run.returncode == 0, run.stderr
    loaded = pki.load_pkcs12(out, "from-openssl")
    assert loaded.cert == pki.load_certificate(shared_course_dir / "client.crt")
    assert loaded.key_matches


def test_lab_loads_a_der_certificate_converted_by_openssl(openssl, shared_course_dir, tmp_path):
    der = tmp_path / "server.der"
    assert (
        openssl(
            "x509", "-in", shared_course_dir / "server.crt", "-outform", "der", "-out", der
        ).returncode
        == 0
    )
    assert pki.load_certificate(der) == pki.load_certificate(shared_course_dir / "server.crt")


def test_lab_loads_a_key_encrypted_by_openssl_and_refuses_a_wrong_passphrase(
    openssl, shared_course_dir, tmp_path
):
    enc = tmp_path / "client.enc.key"
    run = openssl(
        "pkey",
        "-in",
        shared_course_dir / "client.key",
        "-aes256",
        "-passout",
        "pass:k",
        "-out",
        enc,
    )
    assert run.returncode == 0, run.stderr
    cert = pki.load_certificate(shared_course_dir / "client.crt")
    assert key_matches(cert, pki.load_private_key(enc, "k"))
    with pytest.raises(WrongPasswordError):
        pki.load_private_key(enc, "not-k")


# ------------------------------------------------ the guide's openssl commands
GUIDE_COMMANDS = [
    # Create a Root CA
    "openssl genrsa -out rootCA.key 4096",
    "openssl req -x509 -new -nodes -key rootCA.key -sha256 -days 3650 -out rootCA.pem -subj /CN=YourRootCA",
    # Create Server Certificate
    "openssl genrsa -out server.key 2048",
    "openssl req -new -key server.key -out server.csr -subj /CN=localhost",
    "openssl x509 -req -in server.csr -CA rootCA.pem -CAkey rootCA.key -CAcreateserial -out server.crt -days 365 -sha256",
    # Create Client Certificate
    "openssl genrsa -out client.key 2048",
    "openssl req -new -key client.key -out client.csr -subj /CN=MyTrustedClient",
    "openssl x509 -req -in client.csr -CA rootCA.pem -CAkey rootCA.key -CAcreateserial -out client.crt -days 365 -sha256",
    # Convert to .pfx (required for .NET)
    f"openssl pkcs12 -export -out client.pfx -inkey client.key -in client.crt -passout pass:{GUIDE_PFX_PASSWORD}",
    f"openssl pkcs12 -export -out server.pfx -inkey server.key -in server.crt -passout pass:{GUIDE_PFX_PASSWORD}",
]


@pytest.fixture(scope="module")
def guide_dir(openssl, tmp_path_factory):
    """The guide's file set, made by its exact openssl commands (once per module: RSA-4096 is slow)."""
    directory = tmp_path_factory.mktemp("guide")
    keygen = [c for c in GUIDE_COMMANDS if " genrsa " in f" {c} "]
    # The three key generations are independent: run them side by side, then the rest in order.
    procs = [
        subprocess.Popen(c.split(), cwd=directory, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for c in keygen
    ]
    for command, proc in zip(keygen, procs):
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"{command}: {err.decode()}"
    for command in GUIDE_COMMANDS:
        if command in keygen:
            continue
        run = openssl(*command.split()[1:], cwd=directory)
        assert run.returncode == 0, f"{command}: {run.stderr}"
    return directory


@pytest.fixture(scope="module")
def guide_ca(guide_dir):
    """The guide's root loaded as a lab CA (loading checks the RSA-4096 key: do it once)."""
    return pki.CertificateAuthority.load(guide_dir / "rootCA.pem", guide_dir / "rootCA.key")


def test_guide_certificates_load_in_lab(guide_dir, guide_ca):
    ca = guide_ca
    server = pki.load_pair(guide_dir / "server.crt", guide_dir / "server.key")
    client = pki.load_pair(guide_dir / "client.crt", guide_dir / "client.key")
    assert ca.is_root and ca.cert.public_key().key_size == 4096
    assert server.common_name == "localhost" and client.common_name == "MyTrustedClient"
    assert server.cert.issuer == client.cert.issuer == ca.cert.subject


def test_guide_pfx_loads_in_lab_with_its_password(guide_dir):
    client = pki.load_pkcs12(guide_dir / "client.pfx", GUIDE_PFX_PASSWORD)
    assert client.common_name == "MyTrustedClient" and client.key_matches


def test_guide_server_certificate_has_no_san_and_no_eku(guide_dir):
    text = certinfo.describe(pki.load_certificate(guide_dir / "server.crt")).as_text()
    assert "\nSAN                 (none)\n" in text
    assert "\nExtended key usage  (none: any use)\n" in text


def test_guide_client_certificate_has_no_eku(guide_dir):
    summary = certinfo.describe(pki.load_certificate(guide_dir / "client.crt"))
    assert dict(summary.table)["SAN"] == "(none)"
    assert dict(summary.table)["Extended key usage"] == "(none: any use)"


def test_lab_verify_refuses_the_guide_server_certificate_for_localhost_with_the_no_san_reason(
    guide_dir,
):
    ca = pki.load_certificate(guide_dir / "rootCA.pem")
    check = verify_chain(
        pki.load_certificate(guide_dir / "server.crt"), ca, purpose="server", hostname="localhost"
    )
    assert not check.ok
    assert "no SAN" in check.reason


def test_python_ssl_refuses_the_guide_server_certificate_for_localhost(guide_dir):
    """Not only lab's verifier: a real TLS client refuses it too, because there is no SAN."""
    from lab.course import demo
    from lab.tls import client, server

    ca = guide_dir / "rootCA.pem"
    with server.MTLSServer(
        demo.create_app(),
        certificate=(guide_dir / "server.crt", guide_dir / "server.key"),
        trust=ca,
    ) as s:
        with client.session(
            (guide_dir / "client.crt", guide_dir / "client.key"), trust=ca
        ) as session:
            with pytest.raises(Exception) as info:
                session.get(s.url + "/api/secure", timeout=10)
    assert "certificate verify failed" in str(info.value)
    assert "Hostname mismatch" in str(info.value) or "IP address mismatch" in str(info.value)


def test_openssl_itself_accepts_the_guide_certificates_for_either_purpose(openssl, guide_dir):
    """Why the guide's certificates seem to work: without an EKU, openssl allows any purpose."""
    for purpose in ("sslserver", "sslclient"):
        for name in ("server.crt", "client.crt"):
            run = verify(openssl, guide_dir / "rootCA.pem", purpose, guide_dir / name)
            assert run.returncode == 0, (purpose, name, run.stdout + run.stderr)


def test_a_leaf_issued_under_the_guide_root_is_refused_because_the_root_lacks_key_usage(guide_ca):
    """lab can continue the guide's CA, but its root (no Key Usage) fails a strict verifier, in words."""
    ca = guide_ca
    check = verify_chain(ca.issue_server("localhost"), ca, purpose="server", hostname="localhost")
    assert not check.ok
    assert check.reason.startswith("the CA 'CN=YourRootCA' has no Key Usage extension")
