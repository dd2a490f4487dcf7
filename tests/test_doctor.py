"""The certificate doctor on real files: the guide's own openssl output, lab-made sets, broken pairs."""

from __future__ import annotations

import datetime
import os
import re
import shutil

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from lab import cli, pki
from lab.ops import doctor

#: The guide's commands, verbatim, with -subj added so they do not prompt.
GUIDE_COMMANDS = [
    "genrsa -out rootCA.key 4096",
    "req -x509 -new -nodes -key rootCA.key -sha256 -days 3650 -out rootCA.pem -subj /CN=YourRootCA",
    "genrsa -out server.key 2048",
    "req -new -key server.key -out server.csr -subj /CN=localhost",
    "x509 -req -in server.csr -CA rootCA.pem -CAkey rootCA.key -CAcreateserial -out server.crt -days 365 -sha256",
    "genrsa -out client.key 2048",
    "req -new -key client.key -out client.csr -subj /CN=MyTrustedClient",
    "x509 -req -in client.csr -CA rootCA.pem -CAkey rootCA.key -CAcreateserial -out client.crt -days 365 -sha256",
]


@pytest.fixture(scope="module")
def guide_dir(tmp_path_factory, openssl):
    d = tmp_path_factory.mktemp("guide")
    for command in GUIDE_COMMANDS:
        done = openssl(*command.split(), cwd=d)
        assert done.returncode == 0, done.stderr
    return d


def messages(report, severity):
    """``file: message`` of every finding of ``severity``."""
    return [f"{f.file}: {f.message}" for f in report.findings if f.severity == severity]


def _errors(report):
    return "\n".join(messages(report, "error"))


def warnings_of(report):
    return [f for f in report.findings if f.severity == "warning"]


def test_the_guides_server_certificate_is_an_error_for_its_missing_san(guide_dir):
    report = doctor.examine(directory=guide_dir)
    assert report.errors
    assert any(
        f.file == "server.crt" and "no Subject Alternative Name" in f.message for f in report.errors
    )


def test_the_guides_certificates_are_flagged_for_their_missing_eku(guide_dir):
    report = doctor.examine(directory=guide_dir)
    warned = {(f.file, f.message.split(":")[0]) for f in warnings_of(report)}
    assert ("server.crt", "no Extended Key Usage") in warned
    assert ("client.crt", "no Extended Key Usage") in warned
    assert any("X.509 v1" in f.message for f in warnings_of(report))


def test_the_guides_root_without_key_usage_is_a_warning(guide_dir):
    """`openssl req -x509` writes CA:TRUE but no Key Usage: OpenSSL accepts it, RFC 5280 does not."""
    warnings = messages(doctor.examine(directory=guide_dir), "warning")
    assert any(m.startswith("rootCA.pem: CA certificate without Key Usage") for m in warnings)


def _openssl_version(openssl) -> tuple[int, int]:
    found = re.match(r"OpenSSL (\d+)\.(\d+)", openssl("version").stdout)
    assert found, "not an OpenSSL version line"
    return int(found.group(1)), int(found.group(2))


def test_the_guides_certificate_gets_the_same_findings_before_and_after_openssl_3_2(
    guide_dir, openssl, tmp_path
):
    """`openssl x509 -req` without -extfile: X.509 v1 up to OpenSSL 3.1; from 3.2, v3 with only
    the key identifiers (openssl-x509(1)). The second kind is made here with an extfile of just
    those two lines, whatever this machine's OpenSSL; both must get the same real findings."""
    for name in ("rootCA.pem", "rootCA.key", "server.csr", "server.crt", "server.key"):
        shutil.copy(guide_dir / name, tmp_path / name)
    (tmp_path / "keyids.ext").write_text(
        "subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n"
    )
    sign = "x509 -req -in server.csr -CA rootCA.pem -CAkey rootCA.key -CAcreateserial -days 365"
    done = openssl(*sign.split(), "-out", "server-v3.crt", "-extfile", "keyids.ext", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    guide, v3 = (pki.load_certificate(tmp_path / n) for n in ("server.crt", "server-v3.crt"))
    newer = _openssl_version(openssl) >= (3, 2)
    assert guide.version == (x509.Version.v3 if newer else x509.Version.v1)
    assert v3.version == x509.Version.v3
    assert {type(e.value) for e in v3.extensions} == {
        x509.SubjectKeyIdentifier,
        x509.AuthorityKeyIdentifier,
    }
    report = doctor.examine(directory=tmp_path)
    for name, cert in (("server.crt", guide), ("server-v3.crt", v3)):
        found = {(f.severity, f.message.split(":")[0]) for f in report.findings if f.file == name}
        kind = "X.509 v1 certificate" if cert.version == x509.Version.v1 else "X.509 v3 certificate"
        assert any(sev == "warning" and m.startswith(kind) for sev, m in found), found
        assert (
            "error",
            "server certificate has no Subject Alternative Name (only CN=localhost)",
        ) in found
        assert ("warning", "no Extended Key Usage") in found
    v3_words = " ".join(f.message for f in report.findings if f.file == "server-v3.crt")
    assert "v1" not in v3_words and "from OpenSSL 3.2" in v3_words


def test_a_client_key_usage_without_digital_signature_is_an_error(tmp_path, root_ca):
    """OpenSSL refuses such a client certificate ('unsuitable certificate purpose')."""
    key = ec.generate_private_key(ec.SECP256R1())
    bits = dict.fromkeys(
        "content_commitment data_encipherment key_agreement key_cert_sign crl_sign".split(), False
    )
    usage = x509.KeyUsage(
        digital_signature=False,
        key_encipherment=True,
        encipher_only=False,
        decipher_only=False,
        **bits,
    )
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "erin")]))
        .issuer_name(root_ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=90))
        .add_extension(usage, critical=True)
        .sign(root_ca.key, hashes.SHA256())
    )
    pki.IssuedCertificate(cert, key).write(tmp_path / "erin-client")
    root_ca.write(tmp_path / "rootCA")
    errors = _errors(doctor.examine(directory=tmp_path))
    assert "erin-client.crt: Key Usage keyEncipherment does not let the key sign" in errors


def test_the_guides_chain_and_key_pairs_are_otherwise_sound(guide_dir):
    report = doctor.examine(directory=guide_dir)
    infos = messages(report, "info")
    assert "server.crt: chain: localhost -> YourRootCA" in infos
    assert "server.key: matches server.crt" in infos
    assert "client.key: matches client.crt" in infos


def test_doctor_command_exits_1_with_the_reason_on_the_guides_files(guide_dir, capsys):
    assert cli.main(["doctor", "--dir", str(guide_dir), "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "ERROR   server.crt: server certificate has no Subject Alternative Name" in out
    assert "fix: reissue with subjectAltName" in out


def test_a_key_from_another_pair_is_an_error_naming_its_real_owner(guide_dir, tmp_path):
    for name in ("rootCA.pem", "server.crt", "client.crt"):
        shutil.copy(guide_dir / name, tmp_path / name)
    shutil.copy(
        guide_dir / "client.key", tmp_path / "server.key"
    )  # the wrong key, under the right name
    report = doctor.examine(directory=tmp_path)
    assert (
        "server.key: does not belong to server.crt (different public key); it is the key of client.crt"
        in _errors(report)
    )


def test_a_lab_made_course_pki_has_no_errors_or_warnings(shared_course_dir, capsys):
    report = doctor.examine(directory=shared_course_dir)
    assert not report.errors and not warnings_of(report), report.as_text()
    assert cli.main(["doctor", "--dir", str(shared_course_dir)]) == 0
    assert "0 errors, 0 warnings" in capsys.readouterr().out


@pytest.fixture
def made(tmp_path, root_ca, intermediate_ca):
    """Write named lab certificates into tmp_path, with the root, and return the folder."""
    root_ca.write(tmp_path / "rootCA")

    def write(name, ident):
        ident.write(tmp_path / name)
        return tmp_path

    return write


def test_expired_and_not_yet_valid_certificates_are_errors(made, root_ca):
    made("old-client", root_ca.issue_client("old", expired=True))
    d = made("future-client", root_ca.issue_client("future", not_yet_valid=True))
    errors = _errors(doctor.examine(directory=d))
    assert "old-client.crt: expired on" in errors
    assert "future-client.crt: not valid until" in errors


def test_a_certificate_expiring_soon_is_a_warning(made, root_ca):
    d = made("soon-client", root_ca.issue_client("soon", days=10))
    assert "soon-client.crt: expires in" in "\n".join(
        messages(doctor.examine(directory=d), "warning")
    )


def test_a_client_certificate_with_server_eku_or_ca_flag_is_an_error(made, root_ca):
    made("wrong-client", root_ca.issue_client("wrong", eku=["serverAuth"]))
    d = made("caflag-client", root_ca.issue_client("caflag", ca_flag=True))
    errors = _errors(doctor.examine(directory=d))
    assert "does not allow clientAuth" in errors
    assert "caflag-client.crt: a client certificate with CA:TRUE" in errors


def test_a_chain_that_cannot_reach_a_root_is_an_error(tmp_path, unrelated_ca, root_ca):
    root_ca.issue_client("stray").write(tmp_path / "stray")
    unrelated_ca.write(tmp_path / "otherCA")
    errors = _errors(doctor.examine(directory=tmp_path))
    assert "stray.crt: chain does not reach a trusted root" in errors


def test_a_root_given_on_the_command_line_completes_the_chain(tmp_path, root_ca):
    root_ca.issue_client("alice").write(tmp_path / "alice")
    (tmp_path / "ca.pem").write_bytes(root_ca.cert_pem)
    report = doctor.examine(
        [tmp_path / "alice.crt", tmp_path / "alice.key"], roots=[tmp_path / "ca.pem"]
    )
    assert not report.errors, report.as_text()


def test_a_leaf_file_without_its_intermediate_is_a_warning(tmp_path, root_ca, intermediate_ca):
    leaf = intermediate_ca.issue_server("localhost", "127.0.0.1")
    pki.IssuedCertificate(leaf.cert, leaf.key, []).write(tmp_path / "server")  # leaf only
    root_ca.write(tmp_path / "rootCA")
    (tmp_path / "issuing.pem").write_bytes(intermediate_ca.cert_pem)
    warnings = "\n".join(messages(doctor.examine(directory=tmp_path), "warning"))
    assert "server.crt: the file does not carry its intermediate" in warnings


def test_a_pfx_with_the_wrong_password_is_an_error(tmp_path, root_ca):
    root_ca.issue_client("alice").to_pkcs12(tmp_path / "alice.pfx", "right-password")
    report = doctor.examine([tmp_path / "alice.pfx"], password="wrong-password")
    assert "alice.pfx: could not open the .pfx" in _errors(report)
    opened = doctor.examine([tmp_path / "alice.pfx"], password="right-password")
    assert "could not open" not in _errors(opened)
    assert "alice.pfx: client certificate CN=alice, ECDSA P-256" in messages(opened, "info")


def test_an_explicit_empty_password_is_used_not_the_password_file(tmp_path, root_ca):
    """``--password ""`` is a password (a .pfx can be exported with it), not "none given": the
    doctor must try it, not quietly open the bundle with pfx-password.txt instead."""
    root_ca.issue_client("alice").to_pkcs12(tmp_path / "alice.pfx", "saved-password")
    (tmp_path / "pfx-password.txt").write_text("saved-password\n")
    from_file = doctor.examine([tmp_path / "alice.pfx"])
    assert "alice.pfx: client certificate CN=alice, ECDSA P-256" in messages(from_file, "info")
    empty = doctor.examine([tmp_path / "alice.pfx"], password="")
    assert "alice.pfx: could not open the .pfx" in _errors(empty)


def test_a_wrong_password_is_named_so_whatever_the_folder_is_called(tmp_path, root_ca):
    folder = tmp_path / "empty-or-truncated"  # words the doctor must not read in a path
    folder.mkdir()
    root_ca.issue_client("alice").to_pkcs12(folder / "alice.pfx", "right-password")
    report = doctor.examine([folder / "alice.pfx"], password="wrong-password")
    assert (
        _errors(report)
        == "alice.pfx: could not open the .pfx: wrong password, or not a PKCS#12 file"
    )


def test_a_weak_rsa_key_is_an_error(tmp_path, openssl):
    assert (
        openssl(
            "req",
            "-x509",
            "-newkey",
            "rsa:1024",
            "-nodes",
            "-keyout",
            "weak.key",
            "-out",
            "weak-client.crt",
            "-subj",
            "/CN=weak",
            "-days",
            "30",
            cwd=tmp_path,
        ).returncode
        == 0
    )
    assert "too weak" in _errors(doctor.examine(directory=tmp_path))


def test_doctor_on_a_missing_folder_is_one_line_and_exit_1(tmp_path, capsys):
    assert cli.main(["doctor", "--dir", str(tmp_path / "nope")]) == 1
    assert "is not a folder" in capsys.readouterr().err


# ------------------------------------------------- files that must never pass
def test_a_large_garbage_file_is_an_error_not_a_clean_bill(tmp_path, capsys):
    (tmp_path / "blob.bin").write_bytes(os.urandom(10 * 1024 * 1024))
    report = doctor.examine(directory=tmp_path)
    assert "blob.bin: not a readable PEM or DER certificate, key or .pfx" in _errors(report)
    assert cli.main(["doctor", "--dir", str(tmp_path)]) == 1
    assert "1 errors" in capsys.readouterr().out


def test_a_private_key_saved_as_a_certificate_is_an_error(tmp_path, client_identity):
    (tmp_path / "client.crt").write_bytes(client_identity.key_pem())
    os.chmod(tmp_path / "client.crt", 0o600)
    assert "client.crt: a private key in a certificate file" in _errors(
        doctor.examine(directory=tmp_path)
    )


@pytest.mark.parametrize("content", [b"", "truncated"], ids=["empty", "truncated"])
def test_an_empty_or_truncated_pfx_without_password_is_an_error(tmp_path, client_identity, content):
    whole = client_identity.to_pkcs12(tmp_path / "whole.pfx", "pw").read_bytes()
    (tmp_path / "whole.pfx").unlink()
    bad = tmp_path / "alice.pfx"
    bad.write_bytes(whole[: len(whole) // 2] if content == "truncated" else content)
    os.chmod(bad, 0o600)
    report = doctor.examine([bad])
    what = "is empty, not a .pfx file" if content == b"" else "is truncated or not a PKCS#12 bundle"
    assert f"alice.pfx: the .pfx {what}" in _errors(report)


def test_readable_pfx_and_password_files_are_findings(course_dir):
    os.chmod(course_dir / "client.pfx", 0o644)
    os.chmod(course_dir / "pfx-password.txt", 0o640)
    warnings = "\n".join(messages(doctor.examine(directory=course_dir), "warning"))
    assert (
        "client.pfx: .pfx bundle (it holds a private key) is readable by others (mode 644)"
        in warnings
    )
    assert "pfx-password.txt: the .pfx password file is readable by others (mode 640)" in warnings
    assert "server.pfx" not in warnings


def test_a_pfx_with_a_hostile_iteration_count_is_named_as_such_not_as_a_wrong_password(
    tmp_path, client_identity
):
    from test_cli_pki import _pfx, _with_mac_iterations

    (tmp_path / "hostile.pfx").write_bytes(_with_mac_iterations(_pfx(client_identity), 2**31 - 1))
    report = doctor.examine([tmp_path / "hostile.pfx"], password="pw")
    errors = _errors(report)
    assert "hostile.pfx: the .pfx asks for a MAC iteration count of 2,147,483,647" in errors
    assert "wrong password" not in errors
