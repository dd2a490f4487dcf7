"""The self-checks of notebooks 02 and 03: real handshakes and calls decide, each miss has its hint.

The checks print one line (✅ or 💡); these tests assert on the verdict and on the
hint's key words, so a learner who leaves out a different line gets a different hint.
"""

from __future__ import annotations

import ssl
import tempfile
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    PrivateFormat,
    pkcs12,
)
from requests.adapters import HTTPAdapter

from lab.course import coursepki
from lab.course.checks.nb02_server import exercise_require_client_certificates
from lab.course.checks.nb03_client import exercise_pfx_by_hand
from lab.tls.client import session as lab_session


@pytest.fixture(scope="module")
def course(shared_course_dir):
    return coursepki.load(shared_course_dir)


# ------------------------------------------------------------- notebook 02
def server_context(course, *, identity=True, trust=True, mode=ssl.CERT_REQUIRED):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if identity:
        ctx.load_cert_chain(course.file("server.crt"), course.file("server.key"))
    if trust:
        ctx.load_verify_locations(course.ca_file)
    ctx.verify_mode = mode
    return ctx


def test_server_context_with_the_three_lines_passes(course, capsys):
    assert exercise_require_client_certificates(server_context(course), course)
    assert capsys.readouterr().out.startswith("✅")


@pytest.mark.parametrize(
    "options, hint",
    [
        ({"identity": False}, "no certificate of its own"),
        ({"trust": False}, "does the server trust"),
        ({"mode": ssl.CERT_NONE}, "never asked for a client certificate"),
        ({"mode": ssl.CERT_OPTIONAL}, "a client without a certificate got in"),
    ],
)
def test_server_context_missing_a_line_gets_the_hint_for_that_line(course, capsys, options, hint):
    assert not exercise_require_client_certificates(server_context(course, **options), course)
    assert hint in capsys.readouterr().out


def test_a_client_context_is_not_taken_for_a_server_one(course, capsys):
    assert not exercise_require_client_certificates(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), course)
    assert "PROTOCOL_TLS_SERVER" in capsys.readouterr().out


# ------------------------------------------------------------- notebook 03
class ContextAdapter(HTTPAdapter):
    def __init__(self, ssl_context):
        self.ssl_context = ssl_context
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["ssl_context"] = self.ssl_context
        super().init_poolmanager(*args, **kwargs)

    def cert_verify(self, conn, url, verify, cert):
        pass


class RequestsOwnCertVerify(ContextAdapter):
    cert_verify = HTTPAdapter.cert_verify


def pfx_context(course, *, identity=True, trust=True):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if trust:
        ctx.load_verify_locations(course.ca_file)
    if identity:
        password = course.password.encode()
        key, cert, _ = pkcs12.load_key_and_certificates(
            course.file("client.pfx").read_bytes(), password
        )
        with tempfile.TemporaryDirectory() as d:
            pem = Path(d) / "client.pem"
            encrypted = BestAvailableEncryption(password)
            pem.write_bytes(
                key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, encrypted)
                + cert.public_bytes(Encoding.PEM)
            )
            ctx.load_cert_chain(pem, password=password)
    return ctx


def by_hand(ctx, adapter=ContextAdapter, trust_env=False):
    sess = requests.Session()
    sess.trust_env = trust_env
    sess.mount("https://", adapter(ctx))
    return sess


def test_session_built_by_hand_from_the_pfx_passes(course, capsys):
    assert exercise_pfx_by_hand(by_hand(pfx_context(course)), course)
    assert capsys.readouterr().out.startswith("✅")


@pytest.mark.parametrize(
    "make, hint",
    [
        (lambda c: None, "pass the requests.Session you built"),
        (lambda c: lab_session(c.client, trust=c.ca), "requests.Session you built"),
        (lambda c: by_hand(pfx_context(c, identity=False)), "got no client certificate"),
        (lambda c: by_hand(pfx_context(c, trust=False)), "does your context trust it"),
        (lambda c: by_hand(pfx_context(c), trust_env=True), "trust_env"),
        (lambda c: by_hand(pfx_context(c), adapter=RequestsOwnCertVerify), "which adapter method"),
    ],
)
def test_session_missing_a_piece_gets_the_hint_for_that_piece(course, capsys, make, hint):
    assert not exercise_pfx_by_hand(make(course), course)
    assert hint in capsys.readouterr().out


def test_a_plain_session_with_cert_files_is_told_to_mount_an_adapter(course, capsys):
    plain = requests.Session()
    plain.trust_env = False
    plain.cert = (str(course.file("client.crt")), str(course.file("client.key")))
    plain.verify = str(course.ca_file)
    assert not exercise_pfx_by_hand(plain, course)
    assert "mount an adapter" in capsys.readouterr().out
