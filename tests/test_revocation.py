"""Revocation for real: CRLs, the OCSP responder and its checker, the TLS-layer check and the CLI.

Every handshake is a real one on 127.0.0.1, every OCSP request a real HTTP POST
to a real responder thread, and the interop tests call the real openssl and curl.
Time-dependent behaviour (caches, stale answers) is tested with an injected
clock, never by waiting. The CA, the server and the stranger CA are conftest's
shared PKI; the clients revoked here are issued by its root.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp as x509_ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID

from lab import pki
from lab.course import coursepki, observe
from lab.course.demo import create_app
from lab.errors import CorruptFileError
from lab.revocation import (
    RevocationError,
    Revocations,
    load_crl,
    trusted_crl_file,
)
from lab.revocation.ocsp import (
    OCSPChecker,
    OCSPResponder,
    OCSPUnavailable,
    delegated_signer,
    query,
)
from lab.revocation.ocsp_responder import MalformedOCSPRequest, parse_request
from lab.tls import client
from lab.tls.server import MTLSServer

ROOT = Path(__file__).resolve().parent.parent
UTC = dt.timezone.utc


def _now():
    return dt.datetime.now(UTC)


def build_request(cert, issuer, nonce: bytes | None = None) -> bytes:
    """A DER OCSP request for ``cert`` (SHA-1 certificate id), as query() sends it."""
    builder = x509_ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1())
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


@pytest.fixture(scope="module")
def ca(root_ca):
    return root_ca


@pytest.fixture(scope="module")
def server_cert(server_identity):
    return server_identity  # from the intermediate, with its chain: the root verifies it


@pytest.fixture(scope="module")
def alice(ca):
    return ca.issue_client("alice")


@pytest.fixture(scope="module")
def bob(ca):
    return ca.issue_client("bob")


@pytest.fixture
def revoked_bob(ca, bob):
    record = Revocations(ca)
    record.revoke(bob, "keyCompromise")
    return record


def _get(server, who, trust):
    return observe.observe(
        server, lambda: client.session(who, trust=trust).get(server.url + "/api/secure", timeout=10)
    )


# ------------------------------------------------------------------ the record
def test_crl_lists_the_revoked_serial_with_its_reason(ca, bob, revoked_bob):
    crl = revoked_bob.crl()
    entry = crl.get_revoked_certificate_by_serial_number(bob.cert.serial_number)
    assert entry is not None
    assert (
        entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
        == x509.ReasonFlags.key_compromise
    )
    assert crl.is_signature_valid(ca.key.public_key())


def test_crl_carries_this_update_next_update_and_an_increasing_number(revoked_bob):
    first = revoked_bob.crl(validity=dt.timedelta(hours=2))
    second = revoked_bob.crl()
    assert first.next_update_utc - first.last_update_utc == dt.timedelta(hours=2)
    number = lambda c: c.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number  # noqa: E731
    assert number(second) == number(first) + 1


def test_revoking_a_certificate_of_another_ca_is_refused(ca, unrelated_ca):
    stranger = unrelated_ca.issue_client("mallory")
    with pytest.raises(RevocationError, match="revoke it with the CA that issued it"):
        Revocations(ca).revoke(stranger, "keyCompromise")


def test_unknown_reason_is_refused_with_the_valid_names(ca, bob):
    with pytest.raises(RevocationError, match="keyCompromise"):
        Revocations(ca).revoke(bob, "lostIt")


def test_crl_file_round_trips_entries_reason_and_number(tmp_path, ca, bob, revoked_bob):
    path = revoked_bob.write_crl(tmp_path / "crl.pem")
    again = Revocations.load(ca, path)
    assert again.status(bob.cert.serial_number).reason_name == "keyCompromise"
    assert again.crl_number == revoked_bob.crl_number


def test_a_crl_signed_by_another_ca_is_refused_on_load(tmp_path, ca, unrelated_ca):
    path = Revocations(unrelated_ca).write_crl(tmp_path / "crl.pem")
    with pytest.raises(CorruptFileError, match="not signed by"):
        Revocations.load(ca, path)


def test_a_certificate_file_is_not_mistaken_for_a_crl(tmp_path, alice):
    path = pki.write_public(tmp_path / "alice.crt", alice.cert_pem)
    with pytest.raises(CorruptFileError, match="not a CRL"):
        load_crl(path)


def test_refresh_picks_up_a_revocation_written_by_someone_else(tmp_path, ca, bob):
    path = tmp_path / "crl.pem"
    Revocations(ca).write_crl(path)
    reader = Revocations.load(ca, path)
    writer = Revocations.load(ca, path)
    writer.revoke(bob, "superseded")
    writer.write_crl(path)
    os.utime(path, ns=(1, reader._mtime + 1_000_000))  # a distinct mtime even on coarse filesystems
    assert reader.status(bob.cert.serial_number) is None
    assert reader.refresh() is True
    assert reader.status(bob.cert.serial_number).reason_name == "superseded"


# ------------------------------------------------------- the TLS layer (OpenSSL)
def test_revoked_client_gets_in_when_revocation_is_not_checked(server_cert, ca, bob, revoked_bob):
    with MTLSServer(create_app(), server_cert, ca) as s:
        seen = _get(s, bob, ca)
    assert seen.status == 200 and "CN=bob" in seen.body


def test_crl_at_the_handshake_refuses_the_revoked_client(
    tmp_path, server_cert, ca, bob, revoked_bob
):
    crl = revoked_bob.write_crl(tmp_path / "crl.pem")
    with MTLSServer(create_app(), server_cert, ca, crl=crl) as s:
        seen = _get(s, bob, ca)
    assert seen.status is None
    assert seen.server_saw == "handshake refused: certificate verify failed: certificate revoked"


def test_crl_at_the_handshake_still_admits_a_good_client(
    tmp_path, server_cert, ca, alice, revoked_bob
):
    crl = revoked_bob.write_crl(tmp_path / "crl.pem")
    with MTLSServer(create_app(), server_cert, ca, crl=crl) as s:
        seen = _get(s, alice, ca)
    assert seen.status == 200 and seen.server_saw == "handshake ok"


def test_crl_check_flag_without_a_loaded_crl_refuses_every_client(server_cert, ca, alice):
    import ssl

    with MTLSServer(create_app(), server_cert, ca) as s:
        s.context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
        seen = _get(s, alice, ca)
    assert (
        seen.server_saw
        == "handshake refused: certificate verify failed: unable to get certificate CRL"
    )


def test_stale_crl_refuses_even_a_good_client_at_the_handshake(
    tmp_path, server_cert, ca, alice, revoked_bob
):
    crl = revoked_bob.write_crl(
        tmp_path / "stale.pem",
        this_update=_now() - dt.timedelta(days=2),
        next_update=_now() - dt.timedelta(days=1),
    )
    with MTLSServer(create_app(), server_cert, ca, crl=crl) as s:
        seen = _get(s, alice, ca)
    assert seen.server_saw == "handshake refused: certificate verify failed: CRL has expired"


def test_chain_check_needs_a_crl_from_every_ca_in_the_chain(tmp_path, ca):
    issuing = ca.create_intermediate("Revocation Issuing CA")
    srv, carol = issuing.issue_server("localhost", "127.0.0.1"), issuing.issue_client("carol")
    only_issuing = Revocations(issuing).write_crl(tmp_path / "issuing.pem")
    with MTLSServer(create_app(), srv, ca, crl=only_issuing, crl_check="leaf") as s:
        leaf = _get(s, carol, ca)
    with MTLSServer(create_app(), srv, ca, crl=only_issuing, crl_check="chain") as s:
        chain = _get(s, carol, ca)
    both = tmp_path / "both.pem"
    both.write_bytes(
        only_issuing.read_bytes() + Revocations(ca).crl().public_bytes(serialization.Encoding.PEM)
    )
    with MTLSServer(create_app(), srv, ca, crl=both, crl_check="chain") as s:
        chain_with_root_crl = _get(s, carol, ca)
    assert leaf.status == 200
    assert (
        chain.server_saw
        == "handshake refused: certificate verify failed: unable to get certificate CRL"
    )
    assert chain_with_root_crl.status == 200


# ------------------------------------------------------------------- OCSP
def test_responder_answers_good_revoked_and_unknown(ca, alice, bob, revoked_bob, unrelated_ca):
    never_issued = ca.issue_client("ghost")
    stranger_ca = unrelated_ca
    stranger = stranger_ca.issue_client("mallory")
    with OCSPResponder(revoked_bob, issued=[alice, bob]) as r:
        good, revoked = query(alice, ca, r.url), query(bob, ca, r.url)
        unknown = query(never_issued, ca, r.url)
        # Not our CA: the responder says "unknown", and the client would not believe
        # anything it said, since its CA never delegated to our responder.
        with pytest.raises(OCSPUnavailable, match="not issued by the certificate's CA"):
            query(stranger, stranger_ca, r.url)
        answers = [a.status for a in r.answers]
    assert (good.status, revoked.status, unknown.status) == ("good", "revoked", "unknown")
    assert revoked.reason == "keyCompromise"
    assert answers == ["good", "revoked", "unknown", "unknown"]


def test_responder_signs_with_a_delegated_ocsp_signing_certificate(ca, alice, revoked_bob):
    with OCSPResponder(revoked_bob) as r:
        der = requests.post(r.url, data=build_request(alice.cert, ca.cert), timeout=5).content
    signed_by = x509_ocsp.load_der_ocsp_response(der).certificates[0].subject.rfc4514_string()
    assert signed_by == "CN=mTLS Lab OCSP Responder,O=mTLS Lab"
    signer = delegated_signer(ca)
    eku = signer.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [x509.oid.ExtendedKeyUsageOID.OCSP_SIGNING]


def test_answer_signed_by_a_certificate_without_ocsp_signing_is_not_believed(
    ca, alice, revoked_bob
):
    impostor = ca.issue_client("not-a-responder")  # same CA, but clientAuth only
    with OCSPResponder(revoked_bob, signer=impostor) as r:
        with pytest.raises(OCSPUnavailable, match="lacks EKU OCSPSigning"):
            query(alice, ca, r.url)


def test_responder_answers_the_rfc6960_get_form(ca, bob, revoked_bob):
    import base64

    der = build_request(bob.cert, ca.cert)
    with OCSPResponder(revoked_bob) as r:
        got = requests.get(r.url + base64.b64encode(der).decode(), timeout=5)
    resp = x509_ocsp.load_der_ocsp_response(got.content)
    assert got.headers["Content-Type"] == "application/ocsp-response"
    assert resp.certificate_status == x509_ocsp.OCSPCertStatus.REVOKED


def test_responder_answers_a_get_whose_base64_is_percent_encoded(ca, bob, revoked_bob):
    """RFC 6960 appendix A.1: the GET form is url-encoded base64, as nginx's stapling sends it."""
    import base64
    from urllib.parse import quote

    for _ in range(1000):  # a new nonce each time, until the base64 holds a slash
        encoded = base64.b64encode(build_request(bob.cert, ca.cert, os.urandom(16))).decode()
        if "/" in encoded:  # what a server must not take as a path separator
            break
    assert "/" in encoded
    with OCSPResponder(revoked_bob) as r:
        got = requests.get(r.url + quote(encoded, safe=""), timeout=5)
    resp = x509_ocsp.load_der_ocsp_response(got.content)
    assert resp.response_status == x509_ocsp.OCSPResponseStatus.SUCCESSFUL
    assert resp.certificate_status == x509_ocsp.OCSPCertStatus.REVOKED


def test_responder_answers_garbage_with_malformed_request(revoked_bob):
    with OCSPResponder(revoked_bob) as r:
        got = requests.post(r.url, data=b"not ocsp", timeout=5)
        answers = list(r.answers)
    assert (
        x509_ocsp.load_der_ocsp_response(got.content).response_status
        == x509_ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    )
    assert answers[-1].status == "malformed"


def test_responder_sees_a_revocation_written_to_its_crl_file(tmp_path, ca, alice):
    path = tmp_path / "crl.pem"
    Revocations(ca).write_crl(path)
    with OCSPResponder(Revocations.load(ca, path)) as r:
        before = query(alice, ca, r.url).status
        writer = Revocations.load(ca, path)
        writer.revoke(alice, "keyCompromise")
        writer.write_crl(path)
        os.utime(path, ns=(1, r.revocations._mtime + 1_000_000))
        after = query(alice, ca, r.url).status
    assert (before, after) == ("good", "revoked")


def test_query_uses_the_aia_url_of_the_certificate(ca, revoked_bob):
    with OCSPResponder(revoked_bob) as r:
        where = x509.AccessDescription(
            AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(r.url)
        )
        aia = x509.AuthorityInformationAccess([where])
        dave = ca.issue_client("dave", extra_extensions=[(aia, False)])
        assert query(dave, ca).status == "good"


# ------------------------------------------------------------- the checkers
def test_ocsp_checker_refuses_revoked_and_passes_good(ca, alice, bob, revoked_bob):
    with OCSPResponder(revoked_bob) as r:
        check = OCSPChecker(r.url, issuer=ca)
        assert check(alice.cert, []) is None
        assert check(bob.cert, []) == "certificate revoked (keyCompromise) according to OCSP"


def test_ocsp_checker_hard_fail_refuses_when_the_responder_is_down(ca, alice, revoked_bob):
    with OCSPResponder(revoked_bob) as r:
        url = r.url
    reason = OCSPChecker(url, issuer=ca, hard_fail=True)(alice.cert, [])
    assert (
        reason
        == "revocation status unknown: the OCSP responder did not answer (connection refused)"
    )


def test_ocsp_checker_soft_fail_lets_through_when_the_responder_is_down(ca, bob, revoked_bob):
    with OCSPResponder(revoked_bob) as r:
        url = r.url
    check = OCSPChecker(url, issuer=ca, hard_fail=False)
    assert check(bob.cert, []) is None  # revoked, but nobody could say so
    assert check.last_note.startswith("soft-fail: the OCSP responder did not answer")


def test_ocsp_checker_caches_an_answer_until_its_next_update(ca, alice, revoked_bob):
    clock = [_now()]
    with OCSPResponder(revoked_bob, clock=lambda: clock[0]) as r:  # answers valid for an hour
        check = OCSPChecker(r.url, issuer=ca, clock=lambda: clock[0])
        check(alice.cert, [])
        revoked_bob.revoke(alice, "keyCompromise")
        cached = check(alice.cert, [])
        clock[0] += dt.timedelta(minutes=61)
        fresh = check(alice.cert, [])
    assert cached is None  # the cached "good" still stands: the price of caching
    assert fresh == "certificate revoked (keyCompromise) according to OCSP"
    assert check.queries == 2


def test_ocsp_checker_takes_the_issuer_from_the_chain(ca, bob, revoked_bob):
    with OCSPResponder(revoked_bob) as r:
        assert (
            OCSPChecker(r.url)(bob.cert, [ca.cert])
            == "certificate revoked (keyCompromise) according to OCSP"
        )


def test_ocsp_checker_in_a_flask_view_refuses_the_revoked_client_with_403(
    server_cert, ca, alice, bob, revoked_bob
):
    from flask import Flask

    from lab.auth.extension import refusal
    from lab.tls.identity import peer_certificate

    with OCSPResponder(revoked_bob) as r:
        check = OCSPChecker(r.url, issuer=ca)
        app = Flask("revocation-test")

        @app.get("/api/secure")
        def secure():
            reason = check(peer_certificate(), [])
            return (
                refusal("Certificate revoked", reason, "revoked", "revocation") if reason else "hi"
            )

        with MTLSServer(app, server_cert, ca) as s:
            bob_seen, alice_seen = _get(s, bob, ca), _get(s, alice, ca)
    assert bob_seen.status == 403 and "according to OCSP" in bob_seen.body
    assert alice_seen.status == 200


# --------------------------------------------------------------------- scenario
def test_revoked_client_scenario_is_registered_and_behaves():
    from lab.course import scenarios

    result = scenarios.get("revoked-client-certificate").run()
    assert result.behaved and result.category == "revoked"  # lab.diagnose's keyword for it
    assert result.server_saw == "handshake refused: certificate verify failed: certificate revoked"
    assert result.notes == ["without a CRL: HTTP 200: Hello CN=stolen-laptop,O=mTLS Lab"]


# ------------------------------------------------------- CLI and interop (real binaries)
def _lab(*args, env_dir):
    env = {**os.environ, "LAB_CERTS_DIR": str(env_dir)}
    env.pop("LAB_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "lab", *map(str, args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def course_with_bob(course_dir):
    coursepki.issue_client("bob", course_dir)
    return course_dir


def _start(args, env_dir, pattern):
    env = {**os.environ, "LAB_CERTS_DIR": str(env_dir)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "lab", *map(str, args)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    match = re.search(pattern, line)
    if not match:
        proc.kill()
        raise AssertionError(f"no URL in {line!r}: {proc.stderr.read()}")
    return proc, match.group(1)


def _stop(proc):
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    return proc.returncode, out, err


def test_pki_revoke_writes_the_reason_into_crl_pem(course_with_bob, openssl, tmp_path):
    run = _lab(
        "pki",
        "revoke",
        "bob",
        "--reason",
        "keyCompromise",
        "--dir",
        course_with_bob,
        env_dir=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    text = openssl("crl", "-in", course_with_bob / "crl.pem", "-noout", "-text").stdout
    bob = pki.load_certificate(course_with_bob / "bob.crt")
    assert f"{bob.serial_number:X}" in text  # openssl may pad a leading 0: a substring either way
    assert "Key Compromise" in text


def test_pki_revoke_of_a_missing_certificate_is_one_clear_line(course_with_bob, tmp_path):
    run = _lab("pki", "revoke", "nobody", "--dir", course_with_bob, env_dir=tmp_path)
    assert run.returncode == 1
    assert run.stderr.startswith("error: no certificate") and "Traceback" not in run.stderr


@pytest.mark.interop
def test_serve_with_crl_refuses_revoked_bob_and_admits_client_with_curl(course_with_bob, tmp_path):
    d = course_with_bob
    assert (
        _lab(
            "pki", "revoke", "bob", "--reason", "keyCompromise", "--dir", d, env_dir=tmp_path
        ).returncode
        == 0
    )
    proc, url = _start(
        ["serve", "--certs", d, "--port", "0", "--crl", d / "crl.pem"],
        tmp_path,
        r"(https://localhost:\d+)",
    )
    try:

        def curl(name):
            return subprocess.run(
                [
                    shutil.which("curl"),
                    "-sS",
                    "--cacert",
                    d / "rootCA.pem",
                    "--cert",
                    d / f"{name}.crt",
                    "--key",
                    d / f"{name}.key",
                    url + "/api/secure",
                ],
                capture_output=True,
                text=True,
                timeout=30,
            )

        bob, good = curl("bob"), curl("client")
    finally:
        rc, _, err = _stop(proc)
    assert good.returncode == 0 and good.stdout == "Hello CN=MyTrustedClient,O=mTLS Lab"
    assert bob.returncode != 0 and "Hello" not in bob.stdout
    assert "certificate verify failed: certificate revoked" in err
    assert rc == 0


def test_serve_with_a_missing_crl_is_one_clear_line(course_with_bob, tmp_path):
    run = _lab(
        "serve",
        "--certs",
        course_with_bob,
        "--port",
        "0",
        "--crl",
        tmp_path / "nope.pem",
        env_dir=tmp_path,
    )
    assert run.returncode == 1
    assert run.stderr.startswith("error: CRL file") and "Traceback" not in run.stderr


@pytest.mark.interop
def test_ocsp_command_answers_the_real_openssl_client(course_with_bob, tmp_path, openssl):
    d = course_with_bob
    assert (
        _lab(
            "pki", "revoke", "bob", "--reason", "keyCompromise", "--dir", d, env_dir=tmp_path
        ).returncode
        == 0
    )
    proc, url = _start(["ocsp", "--dir", d, "--port", "0"], tmp_path, r"(http://127\.0\.0\.1:\d+/)")
    try:

        def ask(name):
            return openssl(
                "ocsp",
                "-issuer",
                d / "rootCA.pem",
                "-cert",
                d / f"{name}.crt",
                "-url",
                url,
                "-CAfile",
                d / "rootCA.pem",
            )

        bob, good = ask("bob"), ask("client")
    finally:
        rc, _, err = _stop(proc)
    assert "Response verify OK" in bob.stderr + bob.stdout
    assert f"{d / 'bob.crt'}: revoked" in bob.stdout and "Reason: keyCompromise" in bob.stdout
    assert f"{d / 'client.crt'}: good" in good.stdout
    assert "answered serial" in err and ": revoked" in err and rc == 0  # its log, on stderr


# ------------------------------------------------------------- lab.auth and the self-check
def test_certificate_auth_reports_the_checker_mode_and_refuses_revoked(
    server_cert, ca, alice, bob, revoked_bob
):
    from flask import Flask

    from lab.auth import CertificateAuth, require_certificate

    with OCSPResponder(revoked_bob) as r:
        app = Flask("revocation-auth-test")
        auth = CertificateAuth(app, trust=ca, revocation=OCSPChecker(r.url))

        @app.get("/api/secure")
        @require_certificate
        def secure():
            return "hello"

        with MTLSServer(app, server_cert, ca) as s:
            bob_seen, alice_seen = _get(s, bob, ca), _get(s, alice, ca)
    assert auth.revocation_mode == "ocsp"
    assert (
        bob_seen.status == 403
        and "revocation check (ocsp): certificate revoked (keyCompromise)" in bob_seen.body
    )
    assert alice_seen.status == 200


def test_exercise_check_wants_the_right_reason_every_earlier_entry_and_a_higher_number(
    tmp_path, ca, alice, bob, capsys
):
    from lab.course import check

    carol = ca.issue_client("carol")
    previous = Revocations(ca)
    previous.revoke(bob, "keyCompromise")
    previous_file = previous.write_crl(tmp_path / "previous.pem")

    def crl(name, *entries, number_after=previous):
        record = Revocations(ca, crl_number=number_after.crl_number)
        for who, reason in entries:
            record.revoke(who, reason)
        return record.write_crl(tmp_path / f"{name}.pem")

    def verdict(path):
        ok = check.exercise_revoke_carol(
            path, ca, carol, alice, still_revoked=[bob], previous=previous_file
        )
        return bool(ok), capsys.readouterr().out

    wrong_reason = verdict(crl("wrong", (bob, "keyCompromise"), (carol, "keyCompromise")))
    bob_dropped = verdict(crl("dropped", (carol, "affiliationChanged")))
    same_number = verdict(
        crl(
            "same",
            (bob, "keyCompromise"),
            (carol, "affiliationChanged"),
            number_after=Revocations(ca),
        )
    )
    right = verdict(crl("right", (bob, "keyCompromise"), (carol, "affiliationChanged")))
    assert not wrong_reason[0] and "affiliationChanged" in wrong_reason[1]
    assert not bob_dropped[0] and "bob is missing" in bob_dropped[1]
    assert not same_number[0] and "must be higher than the last one (1)" in same_number[1]
    assert right[0], right[1]
    assert not check.exercise_revoke_carol(None, ca, carol, alice)


# ------------------------------------------- a CRL file must not smuggle in a CA
@pytest.fixture(scope="module")
def intruder(unrelated_ca):
    """Another CA, and its client that calls itself MyTrustedClient."""
    return unrelated_ca, unrelated_ca.issue_client("MyTrustedClient")


def _crl_with_a_ca_appended(tmp_path, revoked_bob, intruder) -> Path:
    other, _ = intruder
    crl = revoked_bob.write_crl(tmp_path / "crl.pem")
    extra = other.cert.public_bytes(serialization.Encoding.PEM)
    extra += Revocations(other).crl().public_bytes(serialization.Encoding.PEM)
    crl.write_bytes(crl.read_bytes() + extra)
    return crl


def test_a_crl_file_holding_a_ca_certificate_is_refused_at_the_tls_layer(
    tmp_path, server_cert, ca, revoked_bob, intruder
):
    """OpenSSL loads every certificate in a CRL file as a trust anchor: the intruder got 200."""
    crl = _crl_with_a_ca_appended(tmp_path, revoked_bob, intruder)
    with pytest.raises(
        CorruptFileError, match=r"holds CERTIFICATE and X509 CRL, not only PEM CRLs"
    ):
        with MTLSServer(create_app(), server_cert, ca, crl=crl) as s:
            seen = _get(s, intruder[1], ca)
            assert seen.status != 200, "the CRL file made the intruder CA trusted"


def test_trusted_crl_file_refuses_a_certificate_in_the_file_naming_it(
    tmp_path, ca, revoked_bob, intruder
):
    crl = _crl_with_a_ca_appended(tmp_path, revoked_bob, intruder)
    with pytest.raises(CorruptFileError) as err:
        trusted_crl_file(crl, ca, tmp_path / "out")
    assert str(err.value).startswith(f"{crl} holds a CERTIFICATE besides its CRL")
    assert not (tmp_path / "out").exists()


def test_trusted_crl_file_refuses_a_crl_no_trusted_ca_signed(tmp_path, ca, revoked_bob, intruder):
    crl = revoked_bob.write_crl(tmp_path / "crl.pem")
    foreign = Revocations(intruder[0]).crl().public_bytes(serialization.Encoding.PEM)
    crl.write_bytes(crl.read_bytes() + foreign)
    with pytest.raises(
        CorruptFileError,
        match=r"CRL 2 of 2 \(issuer CN=Unrelated Root CA,O=mTLS Lab\) is not signed by",
    ):
        trusted_crl_file(crl, ca, tmp_path / "out")


def test_trusted_crl_file_turns_a_der_crl_into_pem_that_openssl_uses(
    tmp_path, server_cert, ca, bob, revoked_bob
):
    der = tmp_path / "crl.der"
    der.write_bytes(revoked_bob.crl().public_bytes(serialization.Encoding.DER))
    with pytest.raises(ssl.SSLError):  # what OpenSSL makes of DER: the lab must not hand it over
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_verify_locations(cafile=str(der))
    pem_file = trusted_crl_file(der, ca, tmp_path / "out")
    assert pem_file.read_bytes().startswith(b"-----BEGIN X509 CRL-----")
    with MTLSServer(create_app(), server_cert, ca, crl=pem_file) as s:
        seen = _get(s, bob, ca)
    assert seen.server_saw == "handshake refused: certificate verify failed: certificate revoked"


def test_a_folder_given_as_a_crl_is_one_clear_error(tmp_path, ca):
    with pytest.raises(CorruptFileError, match=r"is a folder, not a CRL file"):
        trusted_crl_file(tmp_path, ca, tmp_path / "out")


@pytest.mark.parametrize("where", [[], ["--behind-nginx"]], ids=["serve", "behind-nginx"])
def test_serve_with_a_ca_smuggled_into_the_crl_file_is_one_clear_line(
    course_with_bob, tmp_path, intruder, where
):
    d = course_with_bob
    assert _lab("pki", "revoke", "bob", "--dir", d, env_dir=tmp_path).returncode == 0
    crl = d / "crl.pem"
    crl.write_bytes(crl.read_bytes() + intruder[0].cert.public_bytes(serialization.Encoding.PEM))
    run = _lab("serve", *where, "--certs", d, "--port", "0", "--crl", crl, env_dir=tmp_path)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert run.stderr.count("\n") == 1 and "holds a CERTIFICATE besides its CRL" in run.stderr


@pytest.mark.parametrize("kind", ["folder", "der"])
def test_serve_crl_takes_a_der_file_and_refuses_a_folder_in_one_line(
    course_with_bob, tmp_path, kind, monkeypatch
):
    d = course_with_bob
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))  # where serve writes the CRL copy it hands OpenSSL
    assert _lab("pki", "revoke", "bob", "--dir", d, env_dir=tmp_path).returncode == 0
    if kind == "folder":
        run = _lab("serve", "--certs", d, "--port", "0", "--crl", d, env_dir=tmp_path)
        assert run.returncode == 1 and "Traceback" not in run.stderr
        assert run.stderr.count("\n") == 1 and "is a folder, not a CRL file" in run.stderr
        return
    der = tmp_path / "crl.der"
    der.write_bytes(load_crl(d / "crl.pem").public_bytes(serialization.Encoding.DER))
    proc, url = _start(
        ["serve", "--certs", d, "--port", "0", "--crl", der], tmp_path, r"(https://localhost:\d+)"
    )
    try:
        assert list(scratch.glob("lab-crl-*/*.pem")), "serve should hand OpenSSL its own CRL copy"
        bob = pki.load_identity((d / "bob.crt", d / "bob.key"))
        with pytest.raises(requests.exceptions.RequestException):
            client.session(bob, trust=d / "rootCA.pem").get(url + "/api/secure", timeout=10)
        good = pki.load_identity((d / "client.crt", d / "client.key"))
        ok = client.session(good, trust=d / "rootCA.pem").get(url + "/api/secure", timeout=10)
    finally:
        rc, _, err = _stop(proc)
    assert ok.status_code == 200 and rc == 0
    assert "certificate revoked" in err
    assert not list(scratch.iterdir()), "the CRL copy was not cleaned up"


# ------------------------------------------------- OCSP requests and CRL numbers
def _der(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        return bytes([tag, n]) + body
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + body


def _tlv(data: bytes, i: int = 0) -> tuple[int, bytes, int]:
    """(tag, body, end) of the DER element at ``i``."""
    tag, length, head = data[i], data[i + 1], 2
    if length & 0x80:
        count = length & 0x7F
        length, head = int.from_bytes(data[i + 2 : i + 2 + count], "big"), 2 + count
    return tag, data[i + head : i + head + length], i + head + length


def _request_for_two(cert, issuer) -> bytes:
    """An RFC 6960 request whose requestList asks about the same certificate twice."""
    _, outer, _ = _tlv(build_request(cert, issuer))  # OCSPRequest { tbsRequest }
    _, tbs, _ = _tlv(outer)  # TBSRequest { requestList, requestExtensions }
    _, request_list, end = _tlv(tbs)
    _, _, one_end = _tlv(request_list)
    one = request_list[:one_end]
    return _der(0x30, _der(0x30, _der(0x30, one + one) + tbs[end:]))


def test_a_request_about_two_certificates_is_answered_malformed_not_internal_error(
    ca, alice, revoked_bob
):
    der = _request_for_two(alice.cert, ca.cert)
    with OCSPResponder(revoked_bob) as r:
        got = requests.post(r.url, data=der, timeout=5)
        answers, errors = list(r.answers), list(r.errors)
    assert got.status_code == 200
    status = x509_ocsp.load_der_ocsp_response(got.content).response_status
    assert status == x509_ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    assert errors == []
    assert answers[-1].status == "malformed"
    assert answers[-1].detail.endswith("ask about one certificate per request")
    with pytest.raises(MalformedOCSPRequest, match="more than one request"):
        parse_request(der)


def _crl_number(crl) -> int:
    return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def test_crl_numbers_only_go_up_and_the_responder_serves_the_published_crl(tmp_path, ca, bob):
    """RFC 5280 5.2.3: every CRL a CA issues has a larger number; /crl serves the file, unsigned again."""
    path = tmp_path / "crl.pem"
    numbers = [_crl_number(load_crl(Revocations(ca).write_crl(path)))]
    with OCSPResponder(Revocations.load(ca, path)) as r:
        served = [requests.get(r.crl_url, timeout=5).content for _ in range(2)]
        writer = Revocations.load(ca, path)  # what `pki revoke` does, in another process
        writer.revoke(bob, "keyCompromise")
        numbers.append(_crl_number(load_crl(writer.write_crl(path))))
        after = x509.load_der_x509_crl(requests.get(r.crl_url, timeout=5).content)
    assert numbers == sorted(set(numbers)), numbers
    assert served[0] == served[1]  # the same file twice, not two freshly signed CRLs
    assert _crl_number(x509.load_der_x509_crl(served[0])) == numbers[0]
    assert _crl_number(after) == numbers[-1]
    assert (tmp_path / "crl.crlnumber").read_text() == f"{numbers[-1]}\n"
