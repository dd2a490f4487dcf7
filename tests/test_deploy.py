"""The stacks of notebook 11, for real: gunicorn, uvicorn + FastAPI (behind nginx), gRPC, asyncio.

Each runs on loopback with the throwaway PKI (root -> intermediate -> leaves). The valid client
gets an answer that carries the identity the app itself read; no certificate and a stranger's
certificate are refused in the handshake. Nothing is mocked.
"""

from __future__ import annotations

import asyncio
import os
import re
import ssl
import subprocess
import sys
import threading
import time
from concurrent import futures
from pathlib import Path

import pytest
import requests
from cryptography import x509
from fastapi import Depends, FastAPI, Request  # module level: FastAPI resolves the annotations here
from fastapi.responses import JSONResponse

from lab import net, pki, proxy
from lab.course import coursepki
from lab.course.demo import create_app
from lab.pki.verify import verify_chain
from lab.tls import client
from lab.tls.server import MTLSServer

ROOT = Path(__file__).resolve().parent.parent
ALICE = "CN=alice,O=mTLS Lab"


@pytest.fixture(scope="module")
def files(throwaway_pki, tmp_path_factory) -> Path:
    """The server's chain and key, the root CA, in a folder of their own."""
    d = tmp_path_factory.mktemp("deploy")
    pki.write_public(d / "server.crt", throwaway_pki.server.chain_pem)
    pki.write_private(d / "server.key", throwaway_pki.server.key_pem())
    pki.write_public(d / "ca.pem", throwaway_pki.root.cert_pem)
    return d


@pytest.fixture(scope="module")
def stranger(unrelated_ca):
    return unrelated_ca.issue_client("alice")


def refused(url, identity, trust) -> bool:
    try:
        with client.session(identity, trust=trust) as s:
            s.get(url, timeout=10)
    except requests.exceptions.ConnectionError:
        return True
    return False


# ------------------------------------------------------------------ gunicorn
WSGI_APP = """\
import ssl
from flask import Flask, request

app = Flask(__name__)


@app.get("/api/secure")
def secure():
    sock = request.environ.get("gunicorn.socket")
    peer = sock.getpeercert() if isinstance(sock, ssl.SSLSocket) else None
    return {"caller": dict(rdn[0] for rdn in peer["subject"])["commonName"] if peer else None}
"""


@pytest.fixture(scope="module", params=["sync", "gthread"])
def gunicorn_url(request, files):
    if sys.platform == "win32":  # pragma: no cover - gunicorn needs fork and fcntl
        pytest.skip("gunicorn does not run on Windows")
    (files / "wsgi_app.py").write_text(WSGI_APP)
    port = net.free_port("127.0.0.1")
    log = files / f"gunicorn-{request.param}.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "wsgi_app:app", "--bind", f"127.0.0.1:{port}"]
        + ["--worker-class", request.param, "--no-control-socket", "--cert-reqs", "2"]
        + ["--certfile", "server.crt", "--keyfile", "server.key", "--ca-certs", "ca.pem"],
        cwd=files,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while "Booting worker" not in log.read_text():
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield f"https://localhost:{port}/api/secure", log
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_gunicorn_app_reads_the_caller_from_the_tls_socket(gunicorn_url, throwaway_pki):
    url, _ = gunicorn_url
    with client.session(throwaway_pki.client, trust=throwaway_pki.root) as s:
        r = s.get(url, timeout=10)
    assert r.status_code == 200 and r.json() == {"caller": "alice"}


def test_gunicorn_refuses_no_certificate_and_a_stranger(gunicorn_url, throwaway_pki, stranger):
    url, log = gunicorn_url
    assert refused(url, None, throwaway_pki.root)
    assert refused(url, stranger, throwaway_pki.root)
    deadline = time.monotonic() + 10
    while log.read_text().count("Invalid request") < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "PEER_DID_NOT_RETURN_A_CERTIFICATE" in log.read_text()
    assert "CERTIFICATE_VERIFY_FAILED" in log.read_text()


# ----------------------------------------------------------- uvicorn + FastAPI
def start_uvicorn(app, files: Path, client_ca: Path):
    import uvicorn

    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        ssl_certfile=files / "server.crt",
        ssl_keyfile=files / "server.key",
        ssl_ca_certs=client_ca,
        ssl_cert_reqs=ssl.CERT_REQUIRED,
        log_level="warning",
        lifespan="off",
    )
    config.load()
    config.handshakes = []
    config.ssl.sni_callback = lambda obj, name, ctx: config.handshakes.append(name)
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    server.port = server.servers[0].sockets[0].getsockname()[1]
    return server


def stop_uvicorn(server) -> None:
    server.should_exit = server.force_exit = True
    deadline = time.monotonic() + 10
    while server.servers and server.servers[0].is_serving() and time.monotonic() < deadline:
        time.sleep(0.05)


def make_api(trust, behind_proxy: bool, intermediates=()):
    """The notebook's FastAPI app: the caller from the TLS extension, or from the proxy's header."""
    api = FastAPI()

    def caller(request: Request) -> x509.Certificate:
        tls = (request.scope.get("extensions") or {}).get("tls") or {}
        header = request.headers.get("x-ssl-client-cert")
        if tls.get("client_cert_chain"):
            cert = x509.load_pem_x509_certificate(tls["client_cert_chain"][0].encode())
        elif header and behind_proxy and request.client.host == "127.0.0.1":
            cert = x509.load_pem_x509_certificate(requests.utils.unquote(header).encode())
        else:
            raise PermissionError("no client certificate reaches the app")
        check = verify_chain(cert, trust, intermediates, purpose="client")
        if not check.ok:
            raise PermissionError(f"untrusted: {check.reason}")
        return cert

    @api.exception_handler(PermissionError)
    async def problem(request, exc):
        body = {"title": "Forbidden", "status": 403, "detail": str(exc)}
        return JSONResponse(body, status_code=403, media_type="application/problem+json")

    @api.get("/api/scope")
    async def scope(request: Request):
        return {"extensions": sorted(request.scope.get("extensions") or {})}

    @api.get("/api/secure")
    async def secure(cert: x509.Certificate = Depends(caller)):
        return {"caller": cert.subject.rfc4514_string()}

    return api


@pytest.fixture(scope="module")
def uvicorn_direct(files, throwaway_pki):
    server = start_uvicorn(make_api(throwaway_pki.root, False), files, files / "ca.pem")
    yield server
    stop_uvicorn(server)


def test_uvicorn_verifies_but_gives_the_app_no_certificate(uvicorn_direct, throwaway_pki, stranger):
    base = f"https://localhost:{uvicorn_direct.port}"
    with client.session(throwaway_pki.client, trust=throwaway_pki.root) as s:
        assert s.get(base + "/api/scope", timeout=10).json() == {"extensions": []}
        r = s.get(base + "/api/secure", timeout=10)
    assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
    assert refused(base + "/api/scope", None, throwaway_pki.root)
    assert refused(base + "/api/scope", stranger, throwaway_pki.root)


def test_fastapi_behind_nginx_reads_the_caller_only_nginx_can_send(files, throwaway_pki, stranger):
    proxy.process.find_nginx()  # a missing nginx fails with the install command
    proxy_ca = pki.CertificateAuthority.create("Test Proxy CA")
    pki.write_public(files / "proxy-ca.pem", proxy_ca.cert_pem)
    api = make_api(
        throwaway_pki.root, True, [throwaway_pki.intermediate.cert]
    )  # nginx forwards the leaf
    backend = start_uvicorn(api, files, files / "proxy-ca.pem")
    try:
        with proxy.NginxProxy(
            f"https://127.0.0.1:{backend.port}",
            certificate=throwaway_pki.server,
            trust=throwaway_pki.root,
            proxy_certificate=proxy_ca.issue_client("Test Proxy"),
        ) as nginx:
            with client.session(throwaway_pki.client, trust=throwaway_pki.root) as s:
                r = s.get(nginx.url + "/api/secure", timeout=10)
            assert (r.status_code, r.json()) == (200, {"caller": ALICE})
            for identity in (None, stranger):
                with client.session(identity, trust=throwaway_pki.root) as s:
                    assert s.get(nginx.url + "/api/secure", timeout=10).status_code in (495, 496)
        forged = {"X-SSL-Client-Cert": requests.utils.quote(throwaway_pki.client.cert_pem.decode())}
        with pytest.raises(requests.exceptions.ConnectionError):
            with client.session(throwaway_pki.client, trust=throwaway_pki.root) as s:
                s.get(f"https://localhost:{backend.port}/api/secure", headers=forged, timeout=10)
    finally:
        stop_uvicorn(backend)


# ---------------------------------------------------------------------- gRPC
@pytest.fixture(scope="module")
def grpc_port(throwaway_pki):
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    import grpc

    def who(request, context):
        return b"hello " + context.auth_context()["x509_common_name"][0]

    handler = grpc.method_handlers_generic_handler(
        "lab.Greeter", {"Who": grpc.unary_unary_rpc_method_handler(who)}
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((handler,))
    credentials = grpc.ssl_server_credentials(
        [(throwaway_pki.server.key_pem(), throwaway_pki.server.chain_pem)],
        root_certificates=throwaway_pki.root.cert_pem,
        require_client_auth=True,
    )
    port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    yield port
    server.stop(None).wait()


def call_grpc(port, root, identity):
    import grpc

    key, chain = (identity.key_pem(), identity.chain_pem) if identity else (None, None)
    credentials = grpc.ssl_channel_credentials(root.cert_pem, key, chain)
    with grpc.secure_channel(f"localhost:{port}", credentials) as channel:
        try:
            return channel.unary_unary("/lab.Greeter/Who")(b"", timeout=10)
        except grpc.RpcError as exc:
            return exc.code()


def test_grpc_servicer_reads_the_caller_from_auth_context(grpc_port, throwaway_pki, stranger):
    import grpc

    assert call_grpc(grpc_port, throwaway_pki.root, throwaway_pki.client) == b"hello alice"
    assert call_grpc(grpc_port, throwaway_pki.root, None) == grpc.StatusCode.UNAVAILABLE
    assert call_grpc(grpc_port, throwaway_pki.root, stranger) == grpc.StatusCode.UNAVAILABLE


# ------------------------------------------------------------ asyncio clients
def test_aiohttp_and_httpx_share_one_context_one_handshake_per_connection(
    uvicorn_direct, throwaway_pki, files, tmp_path
):
    import aiohttp
    import httpx

    pki.write_public(tmp_path / "alice.crt", throwaway_pki.client.chain_pem)
    pki.write_private(tmp_path / "alice.key", throwaway_pki.client.key_pem())
    ctx = ssl.create_default_context(cafile=files / "ca.pem")
    ctx.load_cert_chain(tmp_path / "alice.crt", tmp_path / "alice.key")
    url = f"https://localhost:{uvicorn_direct.port}/api/scope"

    async def with_aiohttp():
        async with aiohttp.ClientSession() as session:

            async def one():
                async with session.get(url, ssl=ctx) as r:
                    return r.status

            return await asyncio.gather(*[one() for _ in range(20)])

    async def with_httpx():
        async with httpx.AsyncClient(verify=ctx) as c:
            return [r.status_code for r in await asyncio.gather(*[c.get(url) for _ in range(20)])]

    for calls in (with_aiohttp, with_httpx):
        before = len(uvicorn_direct.config.handshakes)
        assert asyncio.run(calls()) == [200] * 20
        assert len(uvicorn_direct.config.handshakes) - before == 20


# ------------------------------------------------------- docs/clients.md's asyncio and gRPC clients
DOC_SNIPPET = re.compile(
    r"^<!-- run by tests/test_deploy.py: (\S+) -->\n```python\n(.*?)^```", re.DOTALL | re.MULTILINE
)


def doc_snippet(name: str) -> str:
    found = dict(DOC_SNIPPET.findall((ROOT / "docs" / "clients.md").read_text()))
    return found[name]


def run_doc_snippet(source: str, certs: Path, host_port: str, default: str, keep_cert: bool):
    """Run the page's snippet as a learner would, against this test's server and PKI."""
    if not keep_cert:  # every line naming the client's certificate or key goes
        source = "".join(
            line
            for line in source.splitlines(keepends=True)
            if not re.search(r"client\.(crt|key)\b|private_key|certificate_chain", line)
        )
    source = source.replace(default, host_port).replace("certs/", f"{certs}/")
    return subprocess.run(
        [sys.executable, "-c", source], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture(scope="module")
def course_files(tmp_path_factory):
    certs = tmp_path_factory.mktemp("clients-doc") / "certs"
    coursepki.init(certs)
    return coursepki.load(certs)


def test_clients_doc_aiohttp_gets_hello_and_a_refusal_without_its_certificate(course_files):
    with MTLSServer(create_app(), certificate=course_files.server, trust=course_files.ca) as server:
        failures = server.handshake_failures
        source = doc_snippet("aiohttp")
        ok = run_doc_snippet(
            source, course_files.dir, f"localhost:{server.port}", "localhost:5001", True
        )
        assert ok.returncode == 0 and "200 Hello CN=MyTrustedClient,O=mTLS Lab" in ok.stdout, (
            ok.stderr
        )
        no = run_doc_snippet(
            source, course_files.dir, f"localhost:{server.port}", "localhost:5001", False
        )
        assert no.returncode != 0 and "Hello" not in no.stdout
        assert re.search(r"aiohttp\.client_exceptions\.\w+Error", no.stderr), no.stderr
        deadline = time.monotonic() + 10
        while not failures and time.monotonic() < deadline:
            time.sleep(0.05)
        assert failures and "certificate" in failures[-1].reason


def test_clients_doc_grpc_gets_hello_and_unavailable_without_its_certificate(course_files):
    import grpc

    def who(request, context):
        return b"hello " + context.auth_context()["x509_common_name"][0]

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                "lab.Greeter", {"Who": grpc.unary_unary_rpc_method_handler(who)}
            ),
        )
    )
    credentials = grpc.ssl_server_credentials(
        [(course_files.server.key_pem(), course_files.server.chain_pem)],
        root_certificates=course_files.ca.cert_pem,
        require_client_auth=True,
    )
    port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    try:
        source = doc_snippet("grpc")
        ok = run_doc_snippet(source, course_files.dir, f"localhost:{port}", "localhost:50051", True)
        assert ok.returncode == 0 and ok.stdout.strip() == "hello MyTrustedClient", ok.stderr
        no = run_doc_snippet(
            source, course_files.dir, f"localhost:{port}", "localhost:50051", False
        )
        assert no.returncode != 0 and "StatusCode.UNAVAILABLE" in no.stderr, no.stderr
    finally:
        server.stop(None).wait()
