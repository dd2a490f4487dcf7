"""diagnose.explain on error text captured from real runs (Python 3 + OpenSSL 3.0, requests 2.34,
urllib3 2.8, curl 7.88) and on live exceptions."""

from __future__ import annotations

import datetime as dt
import functools
import subprocess

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from lab import pki
from lab.course import diagnose
from lab.course.demo import create_app
from lab.errors import KeyMismatchError, PassphraseRequiredError
from lab.ops import doctor
from lab.tls import client
from lab.tls.server import MTLSServer

P = "HTTPSConnectionPool(host='localhost', port=36029): Max retries exceeded with url: /api/secure "

#: (captured text, expected category). Each string was printed by a real failing call.
CAPTURED = [
    # requests / urllib3 wrappers around ssl errors (client side)
    (
        P
        + "(Caused by SSLError(SSLError(1, '[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert certificate "
        "required (_ssl.c:2580)')))",
        "no-client-certificate",
    ),
    (
        P
        + "(Caused by SSLError(SSLError(1, '[SSL: TLSV1_ALERT_UNKNOWN_CA] tlsv1 alert unknown ca (_ssl.c:2580)')))",
        "untrusted-ca",
    ),
    (
        P
        + "(Caused by SSLError(SSLError(1, '[SSL: SSLV3_ALERT_CERTIFICATE_EXPIRED] sslv3 alert certificate "
        "expired (_ssl.c:2580)')))",
        "expired",
    ),
    (
        P
        + "(Caused by SSLError(SSLEOFError(8, 'EOF occurred in violation of protocol (_ssl.c:2427)')))",
        "closed-by-peer",
    ),
    (
        P
        + '(Caused by SSLError(SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify '
        "failed: Hostname mismatch, certificate is not valid for 'localhost'. (_ssl.c:1006)\")))",
        "hostname-mismatch",
    ),
    (
        P
        + "(Caused by SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify "
        "failed: self-signed certificate in certificate chain (_ssl.c:1006)')))",
        "untrusted-ca",
    ),
    (
        P
        + "(Caused by SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify "
        "failed: certificate has expired (_ssl.c:1006)')))",
        "expired",
    ),
    (
        P
        + "(Caused by SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify "
        "failed: unable to get local issuer certificate (_ssl.c:1006)')))",
        "unknown-issuer",
    ),
    (
        P
        + "(Caused by SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify "
        "failed: unsuitable certificate purpose (_ssl.c:1006)')))",
        "wrong-purpose",
    ),
    # the lab server's record (MTLSServer.handshake_failures) for revocation and chain refusals
    ("certificate verify failed: unable to get certificate CRL", "crl-missing"),
    ("certificate verify failed: CRL has expired", "crl-stale"),
    (
        P
        + "(Caused by SSLError(SSLError(1, '[SSL: TLSV1_ALERT_PROTOCOL_VERSION] tlsv1 alert protocol version "
        "(_ssl.c:1006)')))",
        "protocol-version",
    ),
    (
        P
        + "(Caused by SSLError(SSLError(116, '[X509: KEY_VALUES_MISMATCH] key values mismatch (_ssl.c:3926)')))",
        "key-mismatch",
    ),
    (
        P
        + "(Caused by SSLError(SSLError(1, '[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)')))",
        "tls-to-plain-http",
    ),
    (
        "('Connection aborted.', ConnectionResetError(104, 'Connection reset by peer'))",
        "closed-by-peer",
    ),
    # urllib3 MaxRetryError text, connection refused
    (
        "HTTPSConnectionPool(host='localhost', port=49285): Max retries exceeded with url: / (Caused by "
        "NewConnectionError(\"HTTPSConnection(host='localhost', port=49285): Failed to establish a new connection: "
        '[Errno 111] Connection refused"))',
        "connection-refused",
    ),
    # a bare SSLCertVerificationError from ssl.wrap_socket
    (
        "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate in certificate chain "
        "(_ssl.c:1006)",
        "untrusted-ca",
    ),
    # the server's own record (lab.tls.failures.handshake_reason)
    ("handshake refused: peer did not return a certificate", "no-client-certificate"),
    (
        "handshake refused: certificate verify failed: unable to get local issuer certificate",
        "unknown-issuer",
    ),
    ("handshake refused: certificate verify failed: self-signed certificate", "self-signed"),
    ("handshake refused: certificate verify failed: certificate is not yet valid", "not-yet-valid"),
    ("handshake refused: certificate verify failed: certificate revoked", "revoked"),
    (
        "handshake refused: http request: the client spoke plain HTTP to the TLS port",
        "plain-http-to-tls",
    ),
    ("handshake refused: unsupported protocol", "protocol-version"),
    ("handshake refused: sslv3 alert unsupported certificate", "wrong-purpose"),
    ("handshake refused: sslv3 alert bad certificate", "certificate-refused"),
    # curl's error lines
    (
        "curl: (60) SSL certificate problem: unable to get local issuer certificate",
        "unknown-issuer",
    ),
    (
        "curl: (60) SSL certificate problem: self-signed certificate in certificate chain",
        "untrusted-ca",
    ),
    ("curl: (60) SSL certificate problem: certificate has expired", "expired"),
    (
        "curl: (60) SSL: no alternative certificate subject name matches target host name 'api.example.test'",
        "hostname-mismatch",
    ),
    (
        "curl: (56) OpenSSL SSL_read: OpenSSL/3.0.19: error:0A00045C:SSL routines::tlsv13 alert certificate "
        "required, errno 0",
        "no-client-certificate",
    ),
    (
        "curl: (56) OpenSSL SSL_read: error:0A00045C:SSL routines::tlsv13 alert certificate required, errno 0",
        "no-client-certificate",
    ),
    (
        "curl: (35) OpenSSL/3.0.19: error:0A000418:SSL routines::tlsv1 alert unknown ca",
        "untrusted-ca",
    ),
    (
        "curl: (35) OpenSSL/3.0.19: error:0A00042E:SSL routines::tlsv1 alert protocol version",
        "protocol-version",
    ),
    (
        "curl: (35) OpenSSL/3.0.19: error:0A00010B:SSL routines::wrong version number",
        "tls-to-plain-http",
    ),
    ("curl: (56) Recv failure: Connection reset by peer", "closed-by-peer"),
    (
        "curl: (55) getpeername() failed with errno 107: Transport endpoint is not connected",
        "closed-by-peer",
    ),
    (
        "curl: (58) could not load PEM client certificate from /tmp/x/nope.crt, OpenSSL error error:80000002:system "
        "library::No such file or directory, (no key found, wrong pass phrase, or wrong file format?)",
        "missing-file",
    ),
    (
        "curl: (58) could not load PEM client certificate from /tmp/x/alice.key, OpenSSL error error:0480006C:PEM "
        "routines::no start line, (no key found, wrong pass phrase, or wrong file format?)",
        "unreadable-file",
    ),
    ("curl: (58) could not load PEM client certificate", "unreadable-file"),
    (
        "Enter PEM pass phrase:\nEnter PEM pass phrase:\ncurl: (58) unable to set private key file: '/tmp/x/enc.key' "
        "type PEM",
        "passphrase-required",
    ),
    (
        "curl: (58) could not parse PKCS12 file, check password, OpenSSL error error:11800071:PKCS12 routines::mac "
        "verify failure",
        "wrong-password",
    ),
    (
        "curl: (7) Failed to connect to localhost port 49285 after 0 ms: Couldn't connect to server",
        "connection-refused",
    ),
]


@pytest.mark.parametrize(
    "text,category", CAPTURED, ids=[f"{i:02d}-{c}" for i, (_, c) in enumerate(CAPTURED)]
)
def test_explain_recognises_captured_error_text(text, category):
    d = diagnose.explain(text)
    assert d.category == category, d
    assert d.cause and d.fix


@pytest.mark.parametrize(
    "text",
    [
        "Segmentation fault (core dumped)",
        "ValueError: something else entirely went wrong",
        "",
    ],
)
def test_an_unrecognised_error_is_unknown_and_keeps_the_raw_text(text):
    d = diagnose.explain(text)
    assert d.category == diagnose.UNKNOWN
    assert text in d.cause


def test_direction_an_alert_blames_our_certificate_a_verify_failure_blames_theirs():
    theirs = diagnose.explain("certificate verify failed: unable to get local issuer certificate")
    ours = diagnose.explain("[SSL: TLSV1_ALERT_UNKNOWN_CA] tlsv1 alert unknown ca")
    assert "peer's certificate" in theirs.cause
    assert "certificate this side sent" in ours.cause


def test_explain_a_live_requests_exception_for_a_wrong_host_name(root_ca, client_identity):
    wrong = root_ca.issue_server("api.example.test")
    with MTLSServer(create_app(), certificate=wrong, trust=root_ca) as s:
        with pytest.raises(requests.exceptions.SSLError) as caught:
            client.session(client_identity, trust=root_ca).get(s.url + "/api/secure", timeout=10)
    d = diagnose.explain(caught.value)
    assert d.category == "hostname-mismatch"
    assert d.cause.startswith("this side refused the peer's certificate")


def test_explain_a_live_lab_error_for_a_mismatched_key(tmp_path, root_ca):
    root_ca.issue_client("carol", mismatched_key=True).write(tmp_path / "carol")
    with pytest.raises(KeyMismatchError) as caught:
        pki.load_pair(tmp_path / "carol.crt", tmp_path / "carol.key")
    assert diagnose.explain(caught.value).category == "key-mismatch"


def test_explain_a_live_lab_error_for_an_encrypted_key(tmp_path, root_ca):
    root_ca.issue_client("dora").write(tmp_path / "dora", password="s3cret")
    with pytest.raises(PassphraseRequiredError) as caught:
        pki.load_pair(tmp_path / "dora.crt", tmp_path / "dora.key")
    assert diagnose.explain(caught.value).category == "passphrase-required"


def test_explain_a_live_path_length_refusal_from_the_servers_record(root_ca, server_identity):
    """An intermediate with pathLen 0 that issued another intermediate: the server refuses its leaf."""
    too_deep = root_ca.create_intermediate("Lab Inter pathLen 0").create_intermediate(
        "Lab Inter below it"
    )
    with MTLSServer(create_app(), server_identity, trust=root_ca) as s:
        n = len(s.handshake_failures)
        with pytest.raises(requests.exceptions.ConnectionError):
            client.session(too_deep.issue_client("carol"), trust=root_ca).get(
                s.url + "/api/secure", timeout=5
            )
        failure = s.wait_for_handshake_failure(after=n)
    assert failure.reason == "certificate verify failed: path length constraint exceeded"
    d = diagnose.explain(failure.reason)  # no rule of its own: OpenSSL's words, with the direction
    assert d.category == "certificate-verify-failed"
    assert d.cause.startswith("this side refused the peer's certificate")


# ------------------------------------------- the guide's openssl x509 -req, before and after 3.2
def _guide_style_v3(ca):
    """What ``openssl x509 -req`` without -extfile makes from OpenSSL 3.2 on: X.509 v3 with
    subject and authority key identifiers, and no SAN, EKU or basicConstraints."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
        .sign(ca.key, hashes.SHA256())
    )
    return pki.IssuedCertificate(cert, key, [])


def _guide_style_by_openssl(ca, folder):
    """The guide's own command; a v1 certificate on OpenSSL up to 3.1, a v3 one from 3.2 on."""
    key = ec.generate_private_key(ec.SECP256R1())
    pki.write_private(
        folder / "server.key",
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    ca.write(folder / "rootCA")
    run = functools.partial(subprocess.run, cwd=folder, check=True, capture_output=True)
    run(
        [
            "openssl",
            "req",
            "-new",
            "-key",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ]
    )
    run(
        [
            "openssl",
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "rootCA.pem",
            "-CAkey",
            "rootCA.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "30",
            "-sha256",
        ]
    )
    cert = x509.load_pem_x509_certificate((folder / "server.crt").read_bytes())
    return pki.IssuedCertificate(cert, key, [])


@pytest.mark.parametrize("maker", ["openssl", "v3 with key identifiers"])
def test_explain_and_the_doctor_describe_the_guides_server_certificate_of_either_version(
    maker, root_ca, client_identity, tmp_path
):
    made = (
        _guide_style_by_openssl(root_ca, tmp_path)
        if maker == "openssl"
        else _guide_style_v3(root_ca)
    )
    extensions = {type(e.value) for e in made.cert.extensions}
    assert extensions <= {x509.SubjectKeyIdentifier, x509.AuthorityKeyIdentifier}
    with MTLSServer(create_app(), certificate=made, trust=root_ca) as s:
        with pytest.raises(requests.exceptions.SSLError) as caught:
            client.session(client_identity, trust=root_ca).get(s.url + "/api/secure", timeout=10)
    d = diagnose.explain(caught.value)
    assert d.category == "hostname-mismatch" and "no SAN at all" in d.cause
    (tmp_path / "doctor").mkdir()
    made.write(tmp_path / "doctor" / "server")  # the doctor reads the role from the name too
    messages = [f.message for f in doctor.examine([tmp_path / "doctor" / "server.crt"]).findings]
    assert any("no Subject Alternative Name" in m for m in messages), messages
    v1 = made.cert.version == x509.Version.v1
    assert any("X.509 v1" in m for m in messages) == v1, messages
