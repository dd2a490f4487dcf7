"""lab.tls.server over real mTLS on loopback: the three modes, every refusal and its record,
the lifecycle (no leaked threads or sockets), keep-alive, concurrency, slow clients, resumption.

Every test starts a real MTLSServer on 127.0.0.1 port 0 and calls it with a real
client. Refusals are judged by the server's own record, which is deterministic,
and never by the client's error alone (under TLS 1.3 that races: alert or EOF).
"""

from __future__ import annotations

import datetime
import os
import socket
import ssl
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from flask import Flask

import lab.tls.server
from lab.course import demo
from lab.course.observe import observe
from lab.errors import ServerError
from lab.tls import client
from lab.tls import contexts as tlsconfig
from lab.tls.server import MTLSServer

ROOT = Path(__file__).resolve().parent.parent
NO_CERT = "peer did not return a certificate"
ALICE = "Hello CN=alice,O=mTLS Lab"


# ----------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def app():
    return demo.create_app()


@pytest.fixture
def serve(app, server_identity, root_ca):
    """``serve(**options)`` -> a started MTLSServer on 127.0.0.1:0, stopped after the test."""
    started = []

    def start(the_app=None, **options):
        options.setdefault("trust", root_ca)
        s = MTLSServer(the_app or app, server_identity, **options).start()
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


@pytest.fixture
def alice(client_identity, root_ca):
    return client.session(client_identity, trust=root_ca)


@pytest.fixture
def anonymous(root_ca):
    return client.session(None, trust=root_ca)


def socket_count() -> int:
    """Sockets this process holds open, counted from /proc/self/fd."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                count += 1
        except OSError:  # the fd of the listdir itself, already closed
            pass
    return count


def settle(condition, timeout: float = 5.0) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` passes (threads take a moment to exit)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


# ------------------------------------------------------------ mode: require
def test_require_mode_refuses_a_client_without_certificate(serve, anonymous):
    s = serve(mode="require")
    with pytest.raises(requests.exceptions.ConnectionError):
        anonymous.get(s.url + "/api/public", timeout=5)


def test_require_mode_records_peer_did_not_return_a_certificate(serve, anonymous):
    s = serve(mode="require")
    obs = observe(s, lambda: anonymous.get(s.url + "/api/secure", timeout=5))
    assert obs.status is None
    assert obs.server_saw == f"handshake refused: {NO_CERT}"


def test_require_mode_answers_hello_subject_to_a_client_with_certificate(serve, alice):
    s = serve(mode="require")
    r = alice.get(s.url + "/api/secure", timeout=5)
    assert (r.status_code, r.text) == (200, ALICE)
    assert s.handshake_failures == []


# ----------------------------------------------------------- mode: optional
def test_optional_mode_lets_a_client_without_certificate_reach_public(serve, anonymous):
    s = serve(mode="optional")
    r = anonymous.get(s.url + "/api/public", timeout=5)
    assert (r.status_code, r.text) == (200, "Hello anonymous (no client certificate)")


def test_optional_mode_answers_403_problem_json_on_secure_without_certificate(serve, anonymous):
    s = serve(mode="optional")
    r = anonymous.get(s.url + "/api/secure", timeout=5)
    assert r.status_code == 403
    assert r.headers["Content-Type"] == "application/problem+json"
    assert r.json()["status"] == 403
    assert s.handshake_failures == []


def test_optional_mode_answers_hello_subject_to_a_client_with_certificate(serve, alice):
    s = serve(mode="optional")
    r = alice.get(s.url + "/api/secure", timeout=5)
    assert (r.status_code, r.text) == (200, ALICE)


# --------------------------------------------------------------- mode: none
def test_none_mode_never_asks_so_a_presented_certificate_is_not_detected(serve, alice):
    """The guide's "client cert not detected": the server sent no CertificateRequest."""
    s = serve(mode="none")
    secure = alice.get(s.url + "/api/secure", timeout=5)
    public = alice.get(s.url + "/api/public", timeout=5)
    assert secure.status_code == 403
    assert secure.headers["Content-Type"] == "application/problem+json"
    assert (public.status_code, public.text) == (200, "Hello anonymous (no client certificate)")
    assert s.handshake_failures == []


def test_unknown_mode_is_refused_with_the_valid_choices(app, server_identity, root_ca):
    with pytest.raises(ValueError, match="require, optional, none"):
        MTLSServer(app, server_identity, trust=root_ca, mode="demand")


# ----------------------------------------------------------------- refusals
def test_client_certificate_from_an_unknown_ca_is_refused(serve, unrelated_ca, root_ca):
    s = serve()
    stranger = client.session(unrelated_ca.issue_client("mallory"), trust=root_ca)
    obs = observe(s, lambda: stranger.get(s.url + "/api/secure", timeout=5))
    assert obs.status is None
    assert (
        obs.server_saw
        == "handshake refused: certificate verify failed: unable to get local issuer certificate"
    )


def test_expired_client_certificate_is_refused_during_handshake(serve, intermediate_ca, root_ca):
    s = serve()
    old = client.session(intermediate_ca.issue_client("old-alice", expired=True), trust=root_ca)
    obs = observe(s, lambda: old.get(s.url + "/api/secure", timeout=5))
    assert obs.status is None
    assert obs.server_saw == "handshake refused: certificate verify failed: certificate has expired"


def test_min_tls_1_3_refuses_a_tls_1_2_only_client(serve, client_identity, root_ca):
    s = serve(min_version="1.3")
    old_client = client.session(client_identity, trust=root_ca, max_version="1.2")
    obs = observe(s, lambda: old_client.get(s.url + "/api/secure", timeout=5))
    assert obs.status is None
    assert obs.client_saw == "TLS handshake failed: no protocol version in common"
    assert obs.server_saw == "handshake refused: unsupported protocol"


def test_min_tls_1_3_still_serves_a_tls_1_3_client(serve, alice):
    s = serve(min_version="1.3")
    assert alice.get(s.url + "/api/secure", timeout=5).text == ALICE


def test_client_refuses_an_impostor_server_and_the_server_records_unknown_ca(
    app, unrelated_ca, root_ca, client_identity
):
    impostor = unrelated_ca.issue_server("localhost", "127.0.0.1")
    with MTLSServer(app, impostor, trust=root_ca) as s:
        obs = observe(
            s,
            lambda: client.session(client_identity, trust=root_ca).get(
                s.url + "/api/secure", timeout=5
            ),
        )
    assert obs.client_saw == "certificate verify failed: unable to get local issuer certificate"
    assert obs.server_saw == "handshake refused: tlsv1 alert unknown ca"


def test_plain_http_to_the_tls_port_is_recorded_as_http_request(serve):
    s = serve()
    plain = requests.Session()
    plain.trust_env = False
    obs = observe(s, lambda: plain.get(f"http://127.0.0.1:{s.port}/api/secure", timeout=5))
    assert obs.server_saw.startswith("handshake refused: http request")


def test_a_plain_http_client_is_told_in_plain_http_to_use_https(serve):
    s = serve()
    plain = requests.Session()
    plain.trust_env = False
    for _ in range(5):  # the answer must win over the close every time, not by luck
        r = plain.get(f"http://127.0.0.1:{s.port}/api/secure", timeout=5)
        assert (r.status_code, r.text) == (
            400,
            "This port speaks HTTPS only: use https:// for this address.",
        )


def test_a_client_that_connects_and_stalls_does_not_block_other_clients(serve, alice):
    """The handshake runs in a worker, so a stalled handshake holds one worker, not the accept loop."""
    s = serve(handshake_timeout=5)
    stalled = socket.create_connection(("127.0.0.1", s.port))
    try:
        # well inside the stalled client's 5 s handshake timeout
        r = alice.get(s.url + "/api/secure", timeout=2.5)
        assert r.status_code == 200
        assert s.handshake_failures == []
    finally:
        stalled.close()
    failure = s.wait_for_handshake_failure(after=0, timeout=10)
    assert failure is not None and "before sending a ClientHello" in failure.reason


class _PlainHandler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's naming
        body = b"plain http"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # keep test output quiet
        pass


def test_tls_to_a_plain_http_port_is_seen_as_wrong_version_number(alice):
    plain = ThreadingHTTPServer(("127.0.0.1", 0), _PlainHandler)
    thread = threading.Thread(target=plain.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        port = plain.server_address[1]
        obs = observe(None, lambda: alice.get(f"https://localhost:{port}/api/secure", timeout=5))
    finally:
        plain.shutdown()
        plain.server_close()
    assert (
        obs.client_saw
        == "TLS handshake failed: wrong version number (the server did not answer in TLS)"
    )


# --------------------------------------------------------------- the record
def test_handshake_failure_carries_the_client_address_and_the_reason(serve, root_ca):
    s = serve()
    raw = socket.create_connection(("127.0.0.1", s.port), timeout=5)
    local = "%s:%d" % raw.getsockname()[:2]
    ctx = tlsconfig.client_context(None, root_ca)
    with pytest.raises((ssl.SSLError, OSError)):
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            if not tls.recv(1024):
                raise ConnectionResetError("closed without an answer")
    failure = s.wait_for_handshake_failure(after=0)
    assert failure.peer == local
    assert failure.reason == NO_CERT
    assert str(failure) == f"handshake from {local} failed: {NO_CERT}"


def test_a_client_that_closes_before_any_byte_is_told_apart_from_a_cut_handshake(serve):
    """curl or requests that cannot load their key connect and close without a ClientHello."""
    s = serve()
    socket.create_connection(("127.0.0.1", s.port), timeout=5).close()
    failure = s.wait_for_handshake_failure(after=0)
    assert failure.reason == (
        "the client closed the TCP connection before sending a ClientHello (no handshake began)"
    )
    with socket.create_connection(("127.0.0.1", s.port), timeout=5) as raw:
        raw.sendall(b"\x16\x03\x01")  # the start of a TLS record, then nothing more
    assert s.wait_for_handshake_failure(after=1).reason == (
        "the client closed the connection during the handshake"
    )


def test_wait_for_handshake_failure_returns_the_failure_at_index_after(
    serve, anonymous, unrelated_ca, root_ca
):
    s = serve()
    stranger = client.session(unrelated_ca.issue_client("mallory"), trust=root_ca)
    for session in (anonymous, stranger):
        n = len(s.handshake_failures)
        with pytest.raises(requests.exceptions.ConnectionError):
            session.get(s.url + "/api/secure", timeout=5)
        s.wait_for_handshake_failure(after=n)
    assert s.wait_for_handshake_failure(after=0).reason == NO_CERT
    assert s.wait_for_handshake_failure(after=1).reason.endswith(
        "unable to get local issuer certificate"
    )
    assert s.wait_for_handshake_failure(after=2, timeout=0.2) is None
    assert s.handshake_summary() == (
        f"1. {NO_CERT}\n2. certificate verify failed: unable to get local issuer certificate"
    )


def test_a_successful_handshake_is_counted_and_not_recorded_as_a_failure(serve, alice):
    s = serve()
    alice.get(s.url + "/healthz", timeout=5)
    assert s.handshakes == 1
    assert s.handshake_failures == []
    assert s.handshake_summary() == "no failed handshakes"


@pytest.fixture
def broken_app():
    app = Flask("broken")

    @app.get("/boom")
    def boom():
        raise RuntimeError("boom from the view")

    @app.get("/fine")
    def fine():
        return "fine"

    return app


def test_an_exception_in_a_view_is_recorded_and_the_client_gets_500(
    broken_app, server_identity, root_ca, alice
):
    s = MTLSServer(broken_app, server_identity, trust=root_ca, raise_errors=False)
    with s:
        r = alice.get(s.url + "/boom", timeout=5)
    assert r.status_code == 500
    assert [e.where for e in s.errors] == ["GET /boom"]
    assert s.errors[0].error == "RuntimeError: boom from the view"
    assert "Traceback" in s.errors[0].traceback
    assert "boom from the view" in str(s.errors[0])


def test_an_exception_in_a_view_is_not_printed_to_stderr(
    broken_app, server_identity, root_ca, alice, capfd
):
    with MTLSServer(broken_app, server_identity, trust=root_ca, raise_errors=False) as s:
        alice.get(s.url + "/boom", timeout=5)
    out, err = capfd.readouterr()
    assert len(s.errors) == 1  # the exception did happen...
    assert "Traceback" not in err and "boom from the view" not in err  # ...and stayed in the record
    assert "boom from the view" not in out


def test_leaving_the_with_block_raises_server_error_naming_the_view_exception(
    broken_app, server_identity, root_ca, alice
):
    with pytest.raises(ServerError, match="GET /boom: RuntimeError: boom from the view"):
        with MTLSServer(broken_app, server_identity, trust=root_ca) as s:
            assert alice.get(s.url + "/boom", timeout=5).status_code == 500
    assert not s.running


def test_raise_errors_false_leaves_the_with_block_quietly(
    broken_app, server_identity, root_ca, alice
):
    with MTLSServer(broken_app, server_identity, trust=root_ca, raise_errors=False) as s:
        alice.get(s.url + "/boom", timeout=5)
    assert len(s.errors) == 1


def test_a_server_without_errors_leaves_the_with_block_quietly(
    broken_app, server_identity, root_ca, alice
):
    with MTLSServer(broken_app, server_identity, trust=root_ca) as s:
        assert alice.get(s.url + "/fine", timeout=5).text == "fine"
    assert s.errors == []


def test_check_raises_server_error_while_running(broken_app, server_identity, root_ca, alice):
    with MTLSServer(broken_app, server_identity, trust=root_ca, raise_errors=False) as s:
        s.check()  # nothing yet
        alice.get(s.url + "/boom", timeout=5)
        with pytest.raises(ServerError, match="boom from the view"):
            s.check()


# ---------------------------------------------------------------- lifecycle
def test_start_twice_keeps_one_server_on_one_port(app, server_identity, root_ca, alice):
    s = MTLSServer(app, server_identity, trust=root_ca)
    try:
        s.start()
        port = s.port
        assert s.start() is s
        assert s.port == port
        assert alice.get(s.url + "/healthz", timeout=5).json() == {"status": "ok"}
    finally:
        s.stop()


def test_stop_twice_and_stop_before_start_are_harmless(app, server_identity, root_ca):
    s = MTLSServer(app, server_identity, trust=root_ca)
    s.stop()
    s.start()
    s.stop()
    s.stop()
    assert not s.running
    assert s.errors == []


def test_stop_closes_open_connections_and_the_port(app, server_identity, root_ca, client_identity):
    s = MTLSServer(app, server_identity, trust=root_ca).start()
    kept = tls_connection(s.port, client_identity, root_ca)
    kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert read_until(kept, b"ok").startswith(b"HTTP/1.1 200 OK")  # kept alive, idle
    port = s.port
    s.stop()
    assert kept.recv(100) == b""  # the server closed it (EOF, not a hang: timeout=5)
    kept.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_context_manager_starts_and_stops(app, server_identity, root_ca, alice):
    with MTLSServer(app, server_identity, trust=root_ca) as s:
        assert s.running
        assert alice.get(s.url + "/healthz", timeout=5).status_code == 200
    assert not s.running
    assert "stopped" in repr(s)


def test_url_and_port_name_localhost_and_the_bound_port(serve):
    s = serve()
    assert s.port > 0
    assert s.url == f"https://localhost:{s.port}"
    assert repr(s) == f"<MTLSServer mode=require running at https://localhost:{s.port}>"


def test_port_before_start_raises_server_error(app, server_identity, root_ca):
    s = MTLSServer(app, server_identity, trust=root_ca)
    with pytest.raises(ServerError, match="not been started"):
        s.port


def test_several_servers_run_at_once_on_distinct_ports(serve, alice, anonymous):
    servers = [serve(mode="require"), serve(mode="optional"), serve(mode="none")]
    assert len({s.port for s in servers}) == 3
    assert [alice.get(s.url + "/api/secure", timeout=5).status_code for s in servers] == [
        200,
        200,
        403,
    ]
    assert anonymous.get(servers[1].url + "/api/public", timeout=5).status_code == 200


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "example.com"])
def test_binding_a_non_loopback_address_is_refused(app, server_identity, root_ca, host):
    with pytest.raises(ServerError, match="binds only loopback"):
        MTLSServer(app, server_identity, trust=root_ca, host=host)


def test_loopback_addresses_other_than_127_0_0_1_are_allowed(app, server_identity, root_ca):
    s = MTLSServer(app, server_identity, trust=root_ca, host="127.0.0.2")
    assert s.host == "127.0.0.2"


def test_a_taken_port_raises_port_in_use_error(serve, app, server_identity, root_ca):
    first = serve()
    second = MTLSServer(app, server_identity, trust=root_ca, port=first.port)
    with pytest.raises(ServerError, match=f"port {first.port} on 127.0.0.1 is already in use"):
        second.start()
    assert not second.running


def test_a_port_held_by_another_program_raises_port_in_use_error(app, server_identity, root_ca):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    try:
        s = MTLSServer(app, server_identity, trust=root_ca, port=holder.getsockname()[1])
        with pytest.raises(ServerError, match="0 picks a free one"):
            s.start()
    finally:
        holder.close()


def test_fifty_start_stop_cycles_leak_no_threads_and_no_sockets(
    app, server_identity, root_ca, client_identity
):
    # warm up once, so lazily created module state does not count as a leak
    with MTLSServer(app, server_identity, trust=root_ca):
        pass
    threads_before = threading.active_count()
    sockets_before = socket_count()
    for _ in range(50):
        with MTLSServer(app, server_identity, trust=root_ca) as s:
            with client.session(client_identity, trust=root_ca) as session:
                assert session.get(s.url + "/healthz", timeout=5).status_code == 200
    assert settle(lambda: threading.active_count() <= threads_before), (
        f"threads: {threads_before} before, {[t.name for t in threading.enumerate()]} after"
    )
    assert settle(lambda: socket_count() <= sockets_before), (
        f"sockets: {sockets_before} before, {socket_count()} after"
    )


def test_stop_all_stops_forgotten_servers(app, server_identity, root_ca):
    forgotten = [MTLSServer(app, server_identity, trust=root_ca).start() for _ in range(2)]
    ports = [s.port for s in forgotten]
    assert all(s.running for s in forgotten)
    lab.tls.server.stop_all()
    assert [s.running for s in forgotten] == [False, False]
    for port in ports:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_a_script_that_forgets_to_stop_its_server_still_exits_and_the_server_is_stopped(tmp_path):
    """Every server thread is a daemon, so Python reaches its atexit hooks; lab's hook then
    stops the server. The script's own hook, registered first, runs last and reports."""
    script = tmp_path / "forgetful.py"
    script.write_text(
        textwrap.dedent("""
        import atexit, socket, threading

        def report():  # registered before lab's hook, so it runs after it
            alive = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
            try:
                socket.create_connection(("127.0.0.1", s.port), timeout=2).close()
                port = "still open"
            except ConnectionRefusedError:
                port = "closed"
            print(int(s.running), port, alive, flush=True)

        atexit.register(report)
        from lab.tls import client
        from lab.course import demo
        from lab import pki
        from lab.tls.server import MTLSServer
        ca = pki.CertificateAuthority.create("Forgetful Root")
        s = MTLSServer(demo.create_app(), ca.issue_server("localhost", "127.0.0.1"), trust=ca).start()
        session = client.session(ca.issue_client("alice"), trust=ca)   # left open: kept alive
        print(session.get(s.url + "/api/secure", timeout=5).text, flush=True)
        # no s.stop(), no session.close()
    """)
    )
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["Hello CN=alice,O=mTLS Lab", "0 closed []"]
    assert "Traceback" not in proc.stderr


# --------------------------------------------------------------- keep-alive
def test_a_session_pays_one_handshake_for_twenty_requests(serve, alice):
    s = serve()
    for _ in range(20):
        assert alice.get(s.url + "/api/secure", timeout=5).text == ALICE
    assert s.handshakes == 1


def test_a_new_session_pays_a_new_handshake(serve, client_identity, root_ca):
    s = serve()
    for expected in (1, 2, 3):
        with client.session(client_identity, trust=root_ca) as session:
            session.get(s.url + "/healthz", timeout=5)
            session.get(s.url + "/healthz", timeout=5)
        assert s.handshakes == expected


def test_eight_concurrent_clients_times_one_hundred_requests_all_answered_correctly(
    serve, intermediate_ca, root_ca
):
    s = serve(threads=8)
    names = [f"client-{i}" for i in range(8)]
    identities = {name: intermediate_ca.issue_client(name) for name in names}

    def run(name):
        wrong, errors = [], []
        with client.session(identities[name], trust=root_ca) as session:
            for _ in range(100):
                try:
                    r = session.get(s.url + "/api/secure", timeout=10)
                    if (r.status_code, r.text) != (200, f"Hello CN={name},O=mTLS Lab"):
                        wrong.append((r.status_code, r.text))
                except Exception as exc:  # noqa: BLE001 - counted, then asserted
                    errors.append(repr(exc))
        return name, wrong, errors

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(run, names))
    assert [
        (name, wrong[:3], errors[:3]) for name, wrong, errors in results if wrong or errors
    ] == []
    assert s.errors == [] and s.handshake_failures == []


# ------------------------------------------------- request and response bodies
@pytest.fixture(scope="module")
def body_app():
    """Views that exercise what cheroot's stream files read and write inside the server."""
    import flask

    app = Flask("bodies")
    release_second_chunk = threading.Event()
    app.config["release_second_chunk"] = release_second_chunk

    @app.post("/echo")
    def echo():
        data = flask.request.get_data()
        return (
            f"{len(data)} bytes, sha starts {__import__('hashlib').sha256(data).hexdigest()[:12]}"
        )

    @app.get("/stream")
    def stream():
        def chunks():
            yield "first chunk\n"
            release_second_chunk.wait(5)
            yield "second chunk\n"

        return flask.Response(chunks(), mimetype="text/plain")

    @app.get("/empty")
    def empty():
        return "", 204

    @app.get("/hello")
    def hello():
        return "hello"

    return app


def tls_connection(port, client_identity, root_ca):
    ctx = tlsconfig.client_context(client_identity, root_ca)
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    return ctx.wrap_socket(raw, server_hostname="localhost")


def read_until(tls, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = tls.recv(65536)
        assert chunk, f"connection closed before {marker!r}; got {data!r}"
        data += chunk
    return data


def test_request_bodies_are_read_whole_and_the_connection_stays_usable(serve, body_app, alice):
    s = serve(body_app)
    payload = os.urandom(200_000)  # many TLS records
    expected = f"200000 bytes, sha starts {__import__('hashlib').sha256(payload).hexdigest()[:12]}"
    for _ in range(3):
        r = alice.post(s.url + "/echo", data=payload, timeout=10)
        assert (r.status_code, r.text) == (200, expected)
    assert s.handshakes == 1 and s.errors == []


def test_a_chunked_request_body_is_read_whole(serve, body_app, alice):
    s = serve(body_app)
    r = alice.post(s.url + "/echo", data=iter([b"a" * 1000, b"b" * 50_000, b"c"]), timeout=10)
    assert r.request.headers.get("Transfer-Encoding") == "chunked"
    assert r.text.startswith("51001 bytes")


def test_expect_100_continue_gets_its_interim_answer_before_the_body(
    serve, body_app, client_identity, root_ca
):
    s = serve(body_app)
    with tls_connection(s.port, client_identity, root_ca) as tls:
        tls.sendall(
            b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n"
            b"Expect: 100-continue\r\nConnection: close\r\n\r\n"
        )
        assert read_until(tls, b"\r\n\r\n").startswith(b"HTTP/1.1 100 Continue")
        tls.sendall(b"hello")
        answer = read_until(tls, b"bytes")
    assert answer.startswith(b"HTTP/1.1 200 OK") and b"5 bytes" in answer


def test_a_streamed_response_sends_its_first_chunk_before_the_view_finishes(
    serve, body_app, client_identity, root_ca
):
    s = serve(body_app)
    release = body_app.config["release_second_chunk"]
    release.clear()
    with tls_connection(s.port, client_identity, root_ca) as tls:
        tls.sendall(b"GET /stream HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        first = read_until(tls, b"first chunk")
        assert b"second chunk" not in first and b"Transfer-Encoding: chunked" in first
        release.set()  # only now can the view produce its second chunk
        rest = read_until(tls, b"0\r\n\r\n")
    assert b"second chunk" in rest


def test_a_response_without_body_still_sends_its_head(serve, body_app, alice):
    s = serve(body_app)
    r = alice.get(s.url + "/empty", timeout=5)
    assert (r.status_code, r.content) == (204, b"")
    head = alice.head(s.url + "/hello", timeout=5)
    assert (head.status_code, head.headers["Content-Length"], head.content) == (200, "5", b"")
    assert alice.get(s.url + "/hello", timeout=5).text == "hello"  # the connection is still in step
    assert s.handshakes == 1


# ------------------------------------------------------------ slow clients
def drip(port, identity, root_ca, results, index, stop, every=0.3):
    """A client that completes its handshake, then sends its request head a byte at a time.

    Records what the server did to it: ``408 ...`` (answered Request Timeout), ``closed``,
    or ``still dripping`` when ``stop`` was set first. Each loop is bounded by ``stop``.
    """
    head = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Pad: " + b"p" * 200 + b"\r\n\r\n"
    try:
        tls = tls_connection(port, identity, root_ca)
    except OSError as exc:
        results[index] = f"no connection: {exc}"
        return
    with tls:
        tls.settimeout(every)
        for byte in head:
            if stop.is_set():
                results[index] = "still dripping"
                return
            try:
                tls.sendall(bytes([byte]))
                answer = tls.recv(4096)  # waits `every` seconds for the server's verdict
            except TimeoutError:
                continue
            except OSError:
                answer = b""
            results[index] = answer.split(b"\r\n")[0].decode() if answer else "closed"
            return
        results[index] = "sent the whole head"


@pytest.mark.parametrize("mode", ["require", "optional"])
def test_more_dripping_clients_than_threads_cannot_starve_a_legitimate_call(
    serve, client_identity, root_ca, alice, mode
):
    """Five clients drip their request head; a server with two threads still answers a call,
    and cuts every dripping client off at its head deadline (408)."""
    s = serve(threads=2, head_timeout=1.0, mode=mode)
    identity = client_identity if mode == "require" else None  # optional: no certificate
    results, stop = [None] * 5, threading.Event()
    drippers = [
        threading.Thread(target=drip, args=(s.port, identity, root_ca, results, i, stop))
        for i in range(5)
    ]
    for t in drippers:
        t.start()
    try:
        assert settle(lambda: s.handshakes >= 5, timeout=10), s.handshake_summary()
        time.sleep(0.4)  # every dripper has sent a first byte: both threads are reading heads
        r = alice.get(s.url + "/healthz", timeout=s.settings.head_timeout + 2)
        assert r.status_code == 200
    finally:
        for t in drippers:
            t.join(timeout=8)
        stop.set()
    assert results == ["HTTP/1.1 408 Request Timeout"] * 5
    assert s.errors == []


def test_a_client_dripping_its_client_hello_is_cut_at_the_handshake_timeout(serve):
    """The handshake timeout bounds the whole handshake, not each read: a ClientHello sent a
    byte every 0.3 s (forever, as far as a per-read timeout of 1 s could tell) is cut."""
    s = serve(handshake_timeout=1.0)
    hello = bytes([22, 3, 1, 0, 200]) + b"\x01" * 200  # a TLS record header, then a slow body
    with socket.create_connection(("127.0.0.1", s.port), timeout=5) as dripper:
        for byte in hello:
            try:
                dripper.send(bytes([byte]))
            except OSError:
                break  # the server closed it
            if s.handshake_failures:
                break
            time.sleep(0.3)
    failure = s.wait_for_handshake_failure(after=0, timeout=5)
    assert failure is not None and failure.reason.startswith("handshake timed out")


def test_idle_connections_after_the_handshake_hold_no_thread(serve, client_identity, root_ca):
    """Eight handshaken connections that never send a request, on a server with two threads:
    they wait in cheroot's selector, so a new client is served at once (not after their
    10 s idle timeout, which the client's 5 s timeout would not survive)."""
    s = serve(threads=2)
    idle = [tls_connection(s.port, client_identity, root_ca) for _ in range(8)]
    try:
        assert settle(lambda: s.handshakes >= 8), s.handshake_summary()
        with client.session(client_identity, trust=root_ca) as session:
            assert session.get(s.url + "/healthz", timeout=5).status_code == 200
    finally:
        for tls in idle:
            tls.close()


def test_a_head_that_never_ends_is_answered_408_at_the_deadline(serve, client_identity, root_ca):
    s = serve(head_timeout=0.5)
    with tls_connection(s.port, client_identity, root_ca) as tls:
        tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")  # no blank line: no end
        assert read_until(tls, b"\r\n").startswith(b"HTTP/1.1 408 Request Timeout")
    with client.session(client_identity, trust=root_ca) as session:
        assert session.get(s.url + "/healthz", timeout=5).status_code == 200


def test_a_slow_request_body_is_not_cut_by_the_head_deadline(
    serve, body_app, client_identity, root_ca
):
    """The head deadline covers the head only: a body may take longer (per-read timeout)."""
    s = serve(body_app, head_timeout=0.5)
    with tls_connection(s.port, client_identity, root_ca) as tls:
        tls.sendall(b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\n")
        tls.sendall(b"Connection: close\r\n\r\n")
        for byte in b"body":
            time.sleep(0.3)  # 1.2 s in all, past the 0.5 s head deadline
            tls.sendall(bytes([byte]))
        assert b"4 bytes" in read_until(tls, b"bytes")


# ------------------------------------------------------------- plain HTTP
def test_tls_false_serves_the_same_app_over_plain_http(app):
    with MTLSServer(app, tls=False) as s:
        plain = requests.Session()
        plain.trust_env = False
        assert s.url == f"http://localhost:{s.port}"
        assert plain.get(s.url + "/healthz", timeout=5).json() == {"status": "ok"}
        assert (s.handshakes, s.handshake_failures, s.errors) == (0, [], [])
    assert repr(s) == "<MTLSServer mode=plain stopped>"


def test_an_https_server_without_a_certificate_is_refused_with_one_line(app):
    with pytest.raises(ServerError, match="needs a certificate"):
        MTLSServer(app)


# ----------------------------------------------------------------- threads
def test_every_thread_of_a_running_server_is_a_daemon(app, server_identity, root_ca, alice):
    before = set(threading.enumerate())
    with MTLSServer(app, server_identity, trust=root_ca, threads=3) as s:
        alice.get(s.url + "/healthz", timeout=5).raise_for_status()
        started = set(threading.enumerate()) - before
        assert len(started) >= 4  # the selector thread and three workers
        assert [t.name for t in started if not t.daemon] == []
    assert settle(lambda: not (set(threading.enumerate()) - before))


# --------------------------------------------------------------- resumption
def connect_and_get(port, context, session=None):
    """One request on a new connection, offering ``session``; (status line, session, resumed)."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    with context.wrap_socket(raw, server_hostname="localhost", session=session) as tls:
        tls.sendall(b"GET /api/secure HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        answer = read_until(tls, b"\r\n\r\n")  # reading the answer also collects the ticket
        return answer.split(b"\r\n")[0].decode(), tls.session, tls.session_reused


def test_the_server_counts_resumed_handshakes(serve, client_identity, root_ca):
    s = serve()
    ctx = tlsconfig.client_context(client_identity, root_ca)
    _, session, resumed = connect_and_get(s.port, ctx)
    assert not resumed
    assert connect_and_get(s.port, ctx, session)[0] == "HTTP/1.1 200 OK"
    assert (s.handshakes, s.resumed) == (2, 1)


def test_a_resumed_session_is_accepted_after_the_client_certificate_expired(
    serve, intermediate_ca, root_ca
):
    """RFC 8446 2.2: a resumed handshake sends no Certificate, so TLS checks nothing again.
    The demo app's CertificateAuth checks validity on every request, and refuses (403)."""
    s = serve()
    soon = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=2)
    short_lived = intermediate_ca.issue_client("short-lived", not_after=soon)
    ctx = tlsconfig.client_context(short_lived, root_ca)
    status, session, _ = connect_and_get(s.port, ctx)
    assert status == "HTTP/1.1 200 OK"
    time.sleep(
        max(0.0, (soon - datetime.datetime.now(datetime.timezone.utc)).total_seconds()) + 1.2
    )
    status, _, resumed = connect_and_get(s.port, ctx, session)  # the certificate has expired now
    assert (status, resumed) == ("HTTP/1.1 403 FORBIDDEN", True)  # TLS let it in; the app did not
    assert s.handshake_failures == []
    n = len(s.handshake_failures)
    with pytest.raises((ssl.SSLError, OSError)):
        connect_and_get(s.port, ctx)  # a full handshake checks it, and refuses it
    assert (
        s.wait_for_handshake_failure(after=n).reason
        == "certificate verify failed: certificate has expired"
    )


# ------------------------------------------------------------ close_notify
def read_to_the_end(tls) -> bytes:
    """Everything the server sends; b"" from recv means it ended with close_notify.

    With ``suppress_ragged_eofs=False`` a TCP close without the alert raises SSLEOFError.
    """
    data = b""
    while chunk := tls.recv(65536):
        data += chunk
    return data


def test_the_server_ends_a_tls_connection_with_close_notify(serve, client_identity, root_ca):
    """RFC 8446 section 6.1: close_notify before closing the write side."""
    s = serve()
    ctx = tlsconfig.client_context(client_identity, root_ca)
    raw = socket.create_connection(("127.0.0.1", s.port), timeout=5)
    with ctx.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False) as tls:
        tls.sendall(b"GET /api/secure HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        answer = read_to_the_end(tls)  # SSLEOFError here if the alert is missing
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(ALICE.encode())


def test_openssl_s_client_reads_the_answer_without_unexpected_eof(
    serve, tmp_path, openssl, client_identity, intermediate_ca, root_ca
):
    """The docs' s_client call needs no -ignore_unexpected_eof: it ends cleanly, exit status 0."""
    s = serve()
    crt, key = client_identity.write(tmp_path / "alice")
    (tmp_path / "root.pem").write_bytes(root_ca.cert_pem)
    (tmp_path / "issuer.pem").write_bytes(intermediate_ca.cert_pem)  # -cert sends the leaf only
    request = "GET /api/secure HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    run = openssl(
        "s_client", "-quiet", "-connect", f"127.0.0.1:{s.port}", "-verify_return_error",
        "-cert", crt, "-key", key, "-cert_chain", tmp_path / "issuer.pem",
        "-CAfile", tmp_path / "root.pem",
        input=request,
    )  # fmt: skip
    assert "unexpected eof" not in run.stderr.lower(), run.stderr
    assert run.returncode == 0 and run.stdout.rstrip().endswith(ALICE), run.stderr
