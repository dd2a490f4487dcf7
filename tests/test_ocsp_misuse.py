"""The OCSP responder under misuse: odd nonces, serials never issued, floods, stalls, a busy port.

Each case is a real HTTP request (or a raw socket, for what ``requests`` will not send)
to a responder thread on 127.0.0.1, or the real ``python -m lab ocsp`` command.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from lab.pki import CertificateAuthority
from lab.revocation import Revocations
from lab.revocation.ocsp import OCSPResponder, delegated_signer, query


@pytest.fixture(scope="module")
def alice(root_ca):
    return root_ca.issue_client("alice-ocsp")


@pytest.fixture(scope="module")
def responder(root_ca, alice):
    with OCSPResponder(Revocations(root_ca), issued=[alice], read_timeout=0.5) as r:
        yield r


def _post(responder, der: bytes) -> ocsp.OCSPResponse:
    got = requests.post(responder.url, data=der, timeout=5)
    assert got.status_code == 200
    return ocsp.load_der_ocsp_response(got.content)


def _request(cert, issuer, nonce: bytes | None) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1())
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


@pytest.mark.parametrize("octets", [1, 16, 32, 33, 128])
def test_a_nonce_within_rfc_9654_is_echoed(responder, root_ca, alice, octets):
    nonce = bytes(range(octets))
    resp = _post(responder, _request(alice.cert, root_ca.cert, nonce))
    assert resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert resp.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce


@pytest.mark.parametrize("octets", [0, 129, 1000])
def test_a_nonce_outside_rfc_9654_is_answered_malformed_request(responder, root_ca, alice, octets):
    resp = _post(responder, _request(alice.cert, root_ca.cert, b"n" * octets))
    assert resp.response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    assert responder.answers[-1].detail == f"the nonce is {octets} octets; RFC 9654 allows 1 to 128"


@pytest.mark.parametrize("serial", [0, 2**400, 12345], ids=["zero", "2^400", "never-issued"])
def test_a_serial_the_ca_never_issued_is_unknown(responder, root_ca, serial):
    probe = ocsp.OCSPRequestBuilder().add_certificate(root_ca.cert, root_ca.cert, hashes.SHA1())
    probe = probe.build()
    der = (
        ocsp.OCSPRequestBuilder()
        .add_certificate_by_hash(
            probe.issuer_name_hash, probe.issuer_key_hash, serial, hashes.SHA1()
        )
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    resp = _post(responder, der)
    assert resp.certificate_status == ocsp.OCSPCertStatus.UNKNOWN


def test_an_impossible_serial_is_unknown_even_without_an_issued_list(root_ca):
    with OCSPResponder(Revocations(root_ca)) as r:
        probe = ocsp.OCSPRequestBuilder().add_certificate(root_ca.cert, root_ca.cert, hashes.SHA1())
        probe = probe.build()
        der = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
            probe.issuer_name_hash, probe.issuer_key_hash, 0, hashes.SHA1()
        )
        resp = _post(r, der.build().public_bytes(serialization.Encoding.DER))
    assert resp.certificate_status == ocsp.OCSPCertStatus.UNKNOWN


def _raw(responder, head: bytes, wait: float = 5.0) -> tuple[bytes, float]:
    """Send ``head`` and read until the server answers or closes; (what came back, seconds)."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", responder.server.port), timeout=wait) as sock:
        sock.sendall(head)
        try:
            data = sock.recv(4096)
        except TimeoutError:
            data = b"<still waiting>"
    return data, time.monotonic() - started


def test_a_body_over_the_limit_is_refused_before_it_is_read(responder):
    head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n"
    data, _ = _raw(responder, head)
    assert data.startswith(b"HTTP/1.1 413")


def test_a_stalled_body_does_not_hold_a_thread(responder):
    head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789"
    data, seconds = _raw(responder, head)
    assert data != b"<still waiting>", "the responder still waits for the rest of the body"
    assert seconds < 4
    assert data == b"" or data.startswith(b"HTTP/1.1 400")  # werkzeug: the body was cut short


def test_the_crl_route_never_signs_the_responder_holds_no_ca_key(tmp_path, root_ca, alice):
    path = Revocations(root_ca).write_crl(tmp_path / "crl.pem")
    keyless = CertificateAuthority(root_ca.cert, None)
    with OCSPResponder(Revocations.load(keyless, path), delegated_signer(root_ca)) as r:
        crl = requests.get(r.crl_url, timeout=5)
        answer = query(alice, root_ca, r.url)
    assert crl.status_code == 200
    assert crl.content == x509.load_pem_x509_crl(path.read_bytes()).public_bytes(
        serialization.Encoding.DER
    )
    assert answer.status == "good"


def test_the_crl_route_without_a_published_crl_is_404(root_ca):
    with OCSPResponder(Revocations(root_ca)) as r:
        got = requests.get(r.crl_url, timeout=5)
    assert got.status_code == 404 and "no CRL published" in got.text


def test_ocsp_on_a_busy_port_is_one_clear_line(course_dir):
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        run = subprocess.run(
            [sys.executable, "-m", "lab", "ocsp", "--dir", course_dir, "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert run.returncode == 1
    assert run.stderr.count("\n") == 1, run.stderr
    assert run.stderr.startswith(f"error: port {port} on 127.0.0.1 is already in use")
    assert "(1)" not in run.stderr and "in use by another program" not in run.stderr


def test_ocsp_command_answers_unknown_for_a_certificate_not_in_its_folder(course_dir, root_ca):
    from lab.course import coursepki

    ca = coursepki.load_ca(course_dir)
    stray = ca.issue_client("never-written")  # signed by the CA, but no file: not issued here
    proc = subprocess.Popen(
        [sys.executable, "-m", "lab", "ocsp", "--dir", course_dir, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = proc.stdout.readline().split(" on ")[1].split(" ")[0]
        written = x509.load_pem_x509_certificate((course_dir / "client.crt").read_bytes())
        assert query(written, ca, url).status == "good"
        assert query(stray, ca, url).status == "unknown"
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def test_a_damaged_published_crl_is_a_clear_503(tmp_path, root_ca):
    path = Revocations(root_ca).write_crl(tmp_path / "crl.pem")
    with OCSPResponder(Revocations.load(root_ca, path)) as r:
        path.write_bytes(b"-----BEGIN X509 CRL-----\ncut short")
        got = requests.get(r.crl_url, timeout=5)
    assert got.status_code == 503 and got.text.startswith("the published CRL is unusable: ")
