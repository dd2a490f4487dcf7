"""Fuzzed input for the three parsers that read bytes from strangers: CRL files, OCSP requests, and
the forwarded-certificate header.

The OCSP client's response parser is fuzzed the same way: a hostile responder's answer must end in
the checker's hard- or soft-fail. Each target gets random bytes and mutations of a valid input (bit flips, truncation, insertion,
deletion, splices of two valid inputs). The only outcomes allowed are a lab error (one clear line)
or, for the OCSP responder, a proper OCSP error response: never another exception, never an HTTP
500, never an internalError, and nothing written to disk. The OCSP requests also go through a real
HTTP POST to a responder on 127.0.0.1.

Hypothesis runs derandomized (the same examples every run, so a failure reproduces) and without
its example database (nothing written into the checkout); each target is bounded to a few seconds.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from urllib.parse import quote

import pytest

try:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover - requirements-test.txt pins it
    if os.environ.get("CI"):
        raise
    pytest.skip(
        "hypothesis is not installed (pip install -r requirements-test.txt)",
        allow_module_level=True,
    )
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from lab import pki
from lab.auth.forwarding import (
    CertificateForwarding,
    ForwardedCertificateError,
    parse_certificate_header,
)
from lab.errors import ForgedHeaderError, LabError
from lab.revocation.crl import Revocations, load_crls, parse_crl, trusted_crl_file
from lab.revocation.ocsp import (
    OCSPResponder,
    OCSPUnavailable,
    delegated_signer,
    parse_response,
)
from lab.revocation.ocsp_responder import MalformedOCSPRequest, parse_request


def build_request(cert, issuer, nonce: bytes | None = None) -> bytes:
    """A DER OCSP request for ``cert`` (SHA-1 certificate id), as query() sends it."""
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1())
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


CA = pki.CertificateAuthority.create("Fuzz CA")
ALICE = CA.issue_client("alice")
RECORD = Revocations(CA)
RECORD.revoke(CA.issue_client("bob"), "keyCompromise")
CRL = RECORD.crl()
CRL_PEM = CRL.public_bytes(serialization.Encoding.PEM)
CRL_DER = CRL.public_bytes(serialization.Encoding.DER)
OCSP_DER = build_request(ALICE.cert, CA.cert, nonce=b"0123456789abcdef")
CERT_PEM = ALICE.cert.public_bytes(serialization.Encoding.PEM)
SIGNER = delegated_signer(CA)

FAST = settings(
    max_examples=250,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
OVER_HTTP = settings(FAST, max_examples=60)


@st.composite
def mutated(draw, seeds: tuple[bytes, ...]) -> bytes:
    """A valid input with a few random edits: what a flaky disk, a proxy or an attacker makes."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "splice"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "truncate":
            del data[at:]
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        else:
            other = draw(st.sampled_from(seeds))
            data[at:] = other[draw(st.integers(0, len(other))) :]
    return bytes(data)


def inputs(*seeds: bytes):
    return st.one_of(st.binary(max_size=512), mutated(seeds))


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# ----------------------------------------------------------------- CRL files
@FAST
@given(inputs(CRL_PEM, CRL_DER, CRL_PEM + CERT_PEM, CRL_PEM + CRL_PEM))
def test_the_crl_loader_answers_garbage_with_a_lab_error_and_writes_nothing(data):
    try:
        parse_crl(data)
    except LabError:
        pass
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        path = folder / "crl.pem"
        path.write_bytes(data)
        try:
            crls = load_crls(path, CA)
        except LabError:
            crls = None
        if crls is not None:  # whatever passes is a real CRL our CA signed
            assert all(c.is_signature_valid(CA.cert.public_key()) for c in crls)
        try:
            trusted_crl_file(path, CA, folder / "out")
        except LabError:
            assert _listing(folder) == ["crl.pem"]  # a refusal leaves nothing behind
        assert path.read_bytes() == data


# ------------------------------------------------------------- OCSP requests
def _answer_is_proper(der: bytes) -> ocsp.OCSPResponse:
    resp = ocsp.load_der_ocsp_response(der)
    assert resp.response_status in (
        ocsp.OCSPResponseStatus.SUCCESSFUL,
        ocsp.OCSPResponseStatus.MALFORMED_REQUEST,
    )
    return resp


@FAST
@given(inputs(OCSP_DER))
def test_the_ocsp_request_parser_answers_garbage_with_malformed_request(data):
    try:
        parsed = parse_request(data)
    except MalformedOCSPRequest:
        parsed = None
    responder = OCSPResponder(
        RECORD, signer=SIGNER
    )  # not started: respond() is the parser's caller
    resp = _answer_is_proper(responder.respond(data))
    assert (parsed is None) == (resp.response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST)


@pytest.fixture(scope="module")
def responder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz-ocsp")
    path = folder / "crl.pem"
    path.write_bytes(CRL_PEM)
    before = _listing(folder), path.read_bytes()
    with OCSPResponder(Revocations.load(CA, path), SIGNER) as r, requests.Session() as http:
        http.trust_env = False
        yield r, http
    assert (_listing(folder), path.read_bytes()) == before, "the responder wrote to its folder"
    assert r.errors == []


@OVER_HTTP
@given(data=inputs(OCSP_DER))
def test_the_responder_over_http_answers_every_body_with_a_proper_ocsp_response(responder, data):
    r, http = responder
    got = http.post(
        r.url, data=data, headers={"Content-Type": "application/ocsp-request"}, timeout=10
    )
    assert got.status_code == 200, got.text[:200]
    assert got.headers["Content-Type"] == "application/ocsp-response"
    _answer_is_proper(got.content)
    assert r.errors == []


RESPONSE_DER = OCSPResponder(RECORD, SIGNER).respond(build_request(ALICE.cert, CA.cert))


@FAST
@given(inputs(RESPONSE_DER))
def test_the_ocsp_client_answers_a_mangled_response_with_ocsp_unavailable(data):
    """What a broken or hostile responder sends must reach the checker's hard/soft-fail."""
    try:
        result = parse_response(data, ALICE.cert, CA.cert)
    except OCSPUnavailable:
        return
    assert result.status == "good"  # only an answer that still verifies is believed


# -------------------------------------------------- the forwarded certificate
def _header_values():
    pem = quote(CERT_PEM.decode(), safe="")
    as_text = st.builds(lambda b: b.decode("latin-1"), inputs(pem.encode(), CERT_PEM))
    return st.one_of(st.text(max_size=300), as_text)


FORWARDING = CertificateForwarding(CA, trusted_proxies=("127.0.0.1",))


@FAST
@given(value=_header_values())
def test_the_forwarded_header_parser_answers_garbage_with_a_lab_error(value):
    try:
        cert = parse_certificate_header(value)
    except ForwardedCertificateError:
        cert = None
    assert cert is None or isinstance(cert, x509.Certificate)
    environ = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_SSL_CLIENT_CERT": value}
    try:
        FORWARDING(environ)
    except (ForwardedCertificateError, ForgedHeaderError):
        pass
