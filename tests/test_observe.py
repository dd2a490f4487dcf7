"""lab.course.observe: one stable sentence per failure class, from exceptions captured in real calls.

Each test provokes the failure for real (a TLS server on loopback, a port with
nothing behind it, a plain-HTTP server, a socket that never answers) and checks
the wording notebooks print. A wording that changed with the race between the
server's alert and its EOF under TLS 1.3 would make notebook outputs flaky, so
the racing case is repeated.
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from lab.course import demo
from lab.course.observe import attempt, client_view, observe
from lab.errors import WrongPasswordError
from lab.tls import client
from lab.tls.failures import CLOSED_BY_SERVER, innermost, scrub
from lab.tls.server import MTLSServer

ALICE = "Hello CN=alice,O=mTLS Lab"


@pytest.fixture(scope="module")
def app():
    return demo.create_app()


@pytest.fixture(scope="module")
def server(app, server_identity, root_ca):
    with MTLSServer(app, server_identity, trust=root_ca) as s:
        yield s


@pytest.fixture(scope="module")
def tls13_only(app, server_identity, root_ca):
    with MTLSServer(app, server_identity, trust=root_ca, min_version="1.3") as s:
        yield s


def captured(call) -> BaseException:
    """The exception a real call raised (fails the test if it did not raise)."""
    with pytest.raises(Exception) as info:
        call()
    return info.value


def refused_by(server, call) -> BaseException:
    """The exception of a call the shared server refuses, once the server has recorded it.

    The client can see its error before the server thread appends the refusal to
    its record; without the wait, the refusal would land in the next test's
    record (where an `observe` of a success would report it).
    """
    n = len(server.handshake_failures)
    exc = captured(call)
    assert server.wait_for_handshake_failure(after=n) is not None
    return exc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _PlainHandler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


# ------------------------------------------------------------- client_view
def test_client_view_of_an_untrusted_server_certificate(
    app, unrelated_ca, client_identity, root_ca
):
    with MTLSServer(app, unrelated_ca.issue_server("localhost", "127.0.0.1"), trust=root_ca) as s:
        exc = captured(
            lambda: client.session(client_identity, trust=root_ca).get(
                s.url + "/healthz", timeout=5
            )
        )
    assert client_view(exc) == "certificate verify failed: unable to get local issuer certificate"


def test_client_view_of_a_closed_port(root_ca):
    port = free_port()
    exc = captured(
        lambda: client.session(None, trust=root_ca).get(f"https://localhost:{port}/", timeout=5)
    )
    assert client_view(exc) == "connection refused: nothing is listening on that port"


def test_client_view_of_a_server_that_never_answers(root_ca):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # the kernel completes the TCP handshake; nobody ever speaks TLS
    try:
        url = f"https://127.0.0.1:{silent.getsockname()[1]}/"
        exc = captured(lambda: client.session(None, trust=root_ca).get(url, timeout=0.5))
    finally:
        silent.close()
    assert client_view(exc) == "timed out waiting for the server"


def test_client_view_of_tls_to_a_plain_http_port(client_identity, root_ca):
    plain = ThreadingHTTPServer(("127.0.0.1", 0), _PlainHandler)
    threading.Thread(target=plain.serve_forever, args=(0.05,), daemon=True).start()
    try:
        url = f"https://localhost:{plain.server_address[1]}/"
        exc = captured(lambda: client.session(client_identity, trust=root_ca).get(url, timeout=5))
    finally:
        plain.shutdown()
        plain.server_close()
    assert (
        client_view(exc)
        == "TLS handshake failed: wrong version number (the server did not answer in TLS)"
    )


def test_client_view_of_no_common_protocol_version(tls13_only, client_identity, root_ca):
    tls12 = client.session(client_identity, trust=root_ca, max_version="1.2")
    exc = captured(lambda: tls12.get(tls13_only.url + "/healthz", timeout=5))
    assert client_view(exc) == "TLS handshake failed: no protocol version in common"


def test_client_view_of_a_refused_client_certificate_is_stable_across_the_tls13_race(
    server, root_ca
):
    """Alert or EOF, whichever wins: always the same sentence (ten real refusals)."""
    seen = set()
    for _ in range(10):
        with client.session(None, trust=root_ca) as anonymous:
            seen.add(
                client_view(
                    refused_by(server, lambda: anonymous.get(server.url + "/healthz", timeout=5))
                )
            )
    assert seen == {CLOSED_BY_SERVER}


def test_client_view_of_a_refusal_under_tls12_is_the_same_sentence(server, root_ca):
    """Under TLS 1.2 the alert arrives inside the handshake; the sentence does not change."""
    anonymous = client.session(None, trust=root_ca, max_version="1.2")
    assert (
        client_view(refused_by(server, lambda: anonymous.get(server.url + "/healthz", timeout=5)))
        == CLOSED_BY_SERVER
    )


def test_client_view_of_a_hostname_mismatch(app, intermediate_ca, client_identity, root_ca):
    with MTLSServer(app, intermediate_ca.issue_server("api.lab.test"), trust=root_ca) as s:
        exc = captured(
            lambda: client.session(client_identity, trust=root_ca).get(
                s.url + "/healthz", timeout=5
            )
        )
    assert (
        client_view(exc)
        == "certificate verify failed: Hostname mismatch, certificate is not valid for 'localhost'."
    )


def test_innermost_digs_through_requests_wrappers_to_the_ssl_error(server, root_ca):
    exc = refused_by(
        server,
        lambda: client.session(None, trust=root_ca, max_version="1.2").get(
            server.url + "/", timeout=5
        ),
    )
    assert isinstance(exc, requests.exceptions.ConnectionError)
    assert isinstance(
        innermost(exc), OSError
    )  # ssl.SSLError and ConnectionResetError are both OSErrors
    assert not isinstance(innermost(exc), requests.exceptions.RequestException)


# ----------------------------------------------------------------- observe
def test_observe_a_success_pairs_the_response_with_handshake_ok(server, client_identity, root_ca):
    obs = observe(
        server,
        lambda: client.session(client_identity, trust=root_ca).get(
            server.url + "/api/secure", timeout=5
        ),
    )
    assert (obs.status, obs.body, obs.ok) == (200, ALICE, True)
    assert str(obs) == f"client saw: HTTP 200: {ALICE}\nserver saw: handshake ok"


def test_observe_a_refused_handshake_pairs_both_sides(server, root_ca):
    obs = observe(
        server,
        lambda: client.session(None, trust=root_ca).get(server.url + "/api/secure", timeout=5),
    )
    assert (obs.status, obs.ok) == (None, False)
    assert isinstance(obs.client_error, requests.exceptions.ConnectionError)
    assert str(obs) == (
        f"client saw: {CLOSED_BY_SERVER}\n"
        "server saw: handshake refused: peer did not return a certificate"
    )


def test_observe_a_403_problem_shows_title_and_detail(app, server_identity, root_ca):
    with MTLSServer(app, server_identity, trust=root_ca, mode="optional") as s:
        obs = observe(
            s, lambda: client.session(None, trust=root_ca).get(s.url + "/api/secure", timeout=5)
        )
    problem = json.loads(obs.body)
    assert obs.status == 403 and not obs.ok
    assert obs.client_saw == f"HTTP 403: {problem['title']}: {problem['detail']}"
    assert obs.server_saw == "handshake ok"


def test_observe_without_a_lab_server_reports_only_the_client(root_ca):
    port = free_port()
    obs = observe(
        None,
        lambda: client.session(None, trust=root_ca).get(f"https://localhost:{port}/", timeout=5),
    )
    assert str(obs) == (
        "client saw: connection refused: nothing is listening on that port\n"
        "server saw: (not a lab server)"
    )


def test_observe_says_so_when_the_server_recorded_nothing(app, server_identity, root_ca):
    s = MTLSServer(app, server_identity, trust=root_ca).start()
    url = s.url
    s.stop()
    obs = observe(s, lambda: client.session(None, trust=root_ca).get(url + "/", timeout=5))
    assert obs.server_saw == "nothing: no failed handshake recorded"


# ------------------------------------------------------------ attempt, scrub
def test_attempt_prints_ok_with_the_result(capsys):
    assert attempt(lambda: 42) == 42
    assert capsys.readouterr().out == "ok: 42\n"


def test_attempt_prints_the_lab_error_as_one_message_wrapped_at_spaces(
    capsys, tmp_path, client_identity, root_ca, monkeypatch
):
    from lab.course import text

    monkeypatch.setattr(text, "WIDTH", 100)  # as in a notebook
    client_identity.to_pkcs12(tmp_path / "alice.pfx", "right")
    monkeypatch.chdir(tmp_path)  # a short path in the message, whatever the temp folder's length
    assert attempt(client.session, Path("alice.pfx"), trust=root_ca, password="wrong") is None
    out = capsys.readouterr().out
    assert out.startswith(f"refused: {WrongPasswordError.__name__}: could not open")
    lines = out.rstrip("\n").split("\n")
    assert all(len(line) <= 100 for line in lines)
    assert all(line.startswith("    ") for line in lines[1:])  # continuations, indented
    words = " ".join(line.strip() for line in lines)
    assert "wrong password" in words  # folded at spaces: no word cut in two


def test_wrap_folds_at_spaces_only_and_keeps_short_lines_and_long_words_whole(monkeypatch):
    from lab.course import text
    from lab.course.text import wrap

    long = "client saw: " + " ".join(["certificate"] * 20)
    assert wrap(long) == long  # WIDTH None (as these tests set it): the one-line form
    monkeypatch.setattr(text, "WIDTH", 40)
    assert wrap("short") == "short"
    folded = wrap(long, indent=12).split("\n")
    assert all(len(line) <= 40 for line in folded)
    assert all(line.rstrip().endswith("certificate") for line in folded)
    assert wrap("x" * 150) == "x" * 150  # a single word (a PEM line, a URL) is never cut
    dated = "403 refused: the certificate expired at 2026-12-01 08:26:49 UTC (checked per request)"
    assert "2026-12-01 08:26:49 UTC" in wrap(dated)  # a date never folds: nbval hides it whole


def test_scrub_drops_ports_object_ids_and_c_line_numbers():
    raw = (
        "HTTPSConnectionPool(host='localhost', port=40123): <urllib3.connection.HTTPSConnection "
        "object at 0x7f3a2c1d0e50> [SSL] bad (_ssl.c:1006) at https://127.0.0.1:40123/x"
    )
    assert scrub(raw) == (
        "HTTPSConnectionPool(host='localhost', port=PORT): <urllib3.connection.HTTPSConnection "
        "object> [SSL] bad at https://127.0.0.1:PORT/x"
    )
