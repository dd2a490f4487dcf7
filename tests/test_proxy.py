"""lab.proxy against the real nginx binary: termination, 495/496, forwarding, lifecycle.

nginx is a course prerequisite (.ci/run installs it): when it is missing these
tests FAIL with the install instruction, they do not skip.
"""

from __future__ import annotations

import datetime as dt
import http.client
import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from flask import Flask, request

from lab import housekeeping, proxy
from lab.errors import ServerError
from lab.paths import ROOT
from lab.proxy import NginxError, NginxProxy
from lab.proxy.process import INSTALL_HINT, NginxNotFoundError, find_nginx
from lab.tls import client
from lab.tls.contexts import client_context
from lab.tls.server import MTLSServer

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module", autouse=True)
def nginx_binary():
    try:
        return find_nginx()
    except NginxNotFoundError:
        pytest.fail(INSTALL_HINT)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """Prefixes go to tmp_path/nginx; afterwards none may be left, and no nginx may survive."""
    monkeypatch.setenv("LAB_STATE_DIR", str(tmp_path))
    yield tmp_path
    leftovers = list((tmp_path / "nginx").glob(proxy.process.PREFIX_STEM + "*"))
    assert not leftovers, f"nginx prefixes left behind: {leftovers}"
    assert not proxy.running_proxies()


def echo_app():
    """Answers with the headers it received and the address it saw: what nginx forwarded."""
    app = Flask("echo")

    @app.get("/<path:_>")
    def echo(_):
        return {"headers": dict(request.headers), "remote": request.remote_addr}

    return app


def revocation_list(ca, revoked=()):
    now = dt.datetime.now(dt.timezone.utc)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.cert.subject)
        .last_update(now - dt.timedelta(minutes=5))
        .next_update(now + dt.timedelta(days=1))
    )
    for leaf in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(leaf.cert.serial_number)
            .revocation_date(now - dt.timedelta(minutes=1))
            .build()
        )
    return builder.sign(ca.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


@pytest.fixture
def upstream(throwaway_pki):
    with MTLSServer(
        echo_app(), certificate=throwaway_pki.server, trust=throwaway_pki.root, mode="optional"
    ) as server:
        yield server


def behind(upstream, pki, workdir, **options):
    """NginxProxy in front of the server ``upstream``; a ``crl`` given as bytes goes to a file."""
    if isinstance(options.get("crl"), bytes):
        crl_file = workdir / "crl.pem"
        crl_file.write_bytes(options["crl"])
        options["crl"] = crl_file
    return NginxProxy(upstream, certificate=pki.server, trust=pki.root, **options)


def get(identity, pki, url, **kwargs):
    return client.session(identity, trust=pki.root).get(url, timeout=10, **kwargs)


# ------------------------------------------------------------ termination
def test_valid_client_certificate_gets_200_and_the_app_receives_its_identity(
    upstream, throwaway_pki, workdir
):
    with behind(upstream, throwaway_pki, workdir) as p:
        r = get(throwaway_pki.client, throwaway_pki, p.url + "/api/secure")
    assert r.status_code == 200
    headers = r.json()["headers"]
    assert headers["X-Ssl-Client-Verify"] == "SUCCESS"
    assert headers["X-Ssl-Client-S-Dn"] == "CN=alice,O=mTLS Lab"
    assert (
        "CN=alice"
        in x509.load_pem_x509_certificate(
            __import__("urllib.parse").parse.unquote(headers["X-Ssl-Client-Cert"]).encode()
        ).subject.rfc4514_string()
    )


def test_no_client_certificate_gets_496_as_problem_json(upstream, throwaway_pki, workdir):
    with behind(upstream, throwaway_pki, workdir) as p:
        r = get(None, throwaway_pki, p.url + "/api/secure")
        log = [m for m in p.log_messages("info") if "certificate" in m]
    assert r.status_code == 496
    assert r.headers["Content-Type"] == "application/problem+json"
    assert r.json()["title"] == "Client certificate required"
    assert log == ["client sent no required SSL certificate while reading client request headers"]


def test_certificate_from_an_unknown_ca_gets_495_naming_the_reason(
    upstream, throwaway_pki, unrelated_ca, workdir
):
    stranger = unrelated_ca.issue_client("alice")
    with behind(upstream, throwaway_pki, workdir) as p:
        r = get(stranger, throwaway_pki, p.url + "/api/secure")
        log = [m for m in p.log_messages("info") if "certificate" in m]
    assert r.status_code == 495
    body = r.json()
    assert body["status"] == 495 and "FAILED:" in body["detail"]
    assert any("client SSL certificate verify error" in line for line in log)


def test_expired_client_certificate_gets_495_certificate_has_expired(
    upstream, throwaway_pki, workdir
):
    expired = throwaway_pki.intermediate.issue_client("late", expired=True)
    with behind(upstream, throwaway_pki, workdir) as p:
        r = get(expired, throwaway_pki, p.url + "/api/secure")
    assert r.status_code == 495
    assert "certificate has expired" in r.json()["detail"]


def test_crl_refuses_a_revoked_certificate_and_needs_a_crl_for_every_ca_in_the_chain(
    upstream, throwaway_pki, workdir
):
    pki = throwaway_pki
    revoked = pki.intermediate.issue_client("revoked")
    only_issuing = revocation_list(pki.intermediate, [revoked])
    with behind(upstream, pki, workdir, crl=only_issuing) as p:
        assert (
            "unable to get certificate CRL" in get(pki.client, pki, p.url + "/x").json()["detail"]
        )
    with behind(upstream, pki, workdir, crl=only_issuing + revocation_list(pki.root)) as p:
        assert get(pki.client, pki, p.url + "/x").status_code == 200
        r = get(revoked, pki, p.url + "/x")
    assert r.status_code == 495 and "certificate revoked" in r.json()["detail"]


def test_optional_mode_lets_a_client_without_certificate_through_with_verdict_none(
    upstream, throwaway_pki, workdir
):
    with behind(upstream, throwaway_pki, workdir, verify_client="optional") as p:
        r = get(None, throwaway_pki, p.url + "/api/public")
    headers = r.json()["headers"]
    assert r.status_code == 200 and headers["X-Ssl-Client-Verify"] == "NONE"
    assert "X-Ssl-Client-Cert" not in headers


# --------------------------------------------------------------- headers
def test_nginx_replaces_a_client_supplied_certificate_header(upstream, throwaway_pki, workdir):
    forged = {
        "X-SSL-Client-Cert": "forged",
        "X-SSL-Client-Verify": "SUCCESS",
        "X-SSL-Client-S-DN": "CN=admin",
    }
    with behind(upstream, throwaway_pki, workdir, verify_client="optional") as p:
        anonymous = get(None, throwaway_pki, p.url + "/x", headers=forged).json()["headers"]
        alice = get(throwaway_pki.client, throwaway_pki, p.url + "/x", headers=forged).json()[
            "headers"
        ]
    assert "X-Ssl-Client-Cert" not in anonymous and anonymous["X-Ssl-Client-Verify"] == "NONE"
    assert "X-Ssl-Client-S-Dn" not in anonymous
    assert (
        alice["X-Ssl-Client-S-Dn"] == "CN=alice,O=mTLS Lab"
        and alice["X-Ssl-Client-Cert"] != "forged"
    )


LOOKALIKES = (
    "X-Client-Cert",
    "X-ARR-ClientCert",
    "ssl-client-cert",
    "ssl-client-verify",
    "ssl-client-subject-dn",
    "X-Forwarded-Client-Cert",
)


def test_lookalike_headers_are_cleared(upstream, throwaway_pki, workdir):
    sent = {name: "forged" for name in LOOKALIKES} | {"X-Unrelated": "kept"}
    with behind(upstream, throwaway_pki, workdir) as p:
        seen = get(throwaway_pki.client, throwaway_pki, p.url + "/x", headers=sent).json()[
            "headers"
        ]
    seen = {k.lower(): v for k, v in seen.items()}
    assert seen["x-unrelated"] == "kept"  # the echo shows the caller's headers...
    assert "x-ssl-client-cert" in seen  # ...and nginx's own certificate header
    assert not seen.keys() & {h.lower() for h in LOOKALIKES}  # but no look-alike


def test_proxy_bind_sets_the_address_the_app_sees(upstream, throwaway_pki, workdir):
    with behind(upstream, throwaway_pki, workdir, proxy_bind="127.0.0.2") as p:
        r = get(throwaway_pki.client, throwaway_pki, p.url + "/x")
    assert r.json()["remote"] == "127.0.0.2"


def test_proxy_certificate_is_presented_to_the_app(throwaway_pki, workdir):
    seen = []
    app = Flask("peer")

    @app.get("/x")
    def x():
        seen.append(request.environ.get("SSL_CLIENT_S_DN", ""))
        return "ok"

    proxy_identity = throwaway_pki.intermediate.issue_client("mTLS Lab Proxy")
    with MTLSServer(
        app, certificate=throwaway_pki.server, trust=throwaway_pki.root, mode="require"
    ) as s:
        with behind(s, throwaway_pki, workdir, proxy_certificate=proxy_identity) as p:
            assert get(throwaway_pki.client, throwaway_pki, p.url + "/x").status_code == 200
        with behind(s, throwaway_pki, workdir) as p:
            refused = get(throwaway_pki.client, throwaway_pki, p.url + "/x")
            assert s.wait_for_handshake_failure() is not None
    assert seen and "mTLS Lab Proxy" in seen[0]
    assert refused.status_code == 502  # nginx could not complete mTLS with the app


# ------------------------------------------------------------ nginx -t
VERIFY_CLIENT_MODES = ("on", "optional", "optional_no_ca", "off")
CONFIG_VARIANTS = list(itertools.product(VERIFY_CLIENT_MODES, (False, True), (False, True)))


@pytest.mark.parametrize("verify_client,crl,proxy_cert", CONFIG_VARIANTS)
def test_nginx_t_accepts_every_generated_configuration(
    throwaway_pki, workdir, verify_client, crl, proxy_cert
):
    crl_file = workdir / "crl.pem"
    crl_file.write_bytes(revocation_list(throwaway_pki.intermediate))
    p = NginxProxy(
        "https://127.0.0.1:9",
        certificate=throwaway_pki.server,
        trust=throwaway_pki.root,
        verify_client=verify_client,
        crl=crl_file if crl else None,
        proxy_bind="127.0.0.2",
        proxy_certificate=throwaway_pki.client if proxy_cert else None,
    )
    assert nginx_t(p) == 0


def test_nginx_t_accepts_a_plain_http_upstream_and_tls_1_3_only(throwaway_pki, workdir):
    p = NginxProxy(
        "http://127.0.0.1:9",
        certificate=throwaway_pki.server,
        trust=throwaway_pki.root,
        min_tls="1.3",
    )
    text = p.config_text(8443)
    assert "proxy_ssl" not in text and "ssl_protocols       TLSv1.3;" in text
    assert nginx_t(p) == 0


def test_rendered_configuration_names_every_mtls_directive(throwaway_pki, workdir):
    crl_file = workdir / "crl.pem"
    crl_file.write_bytes(revocation_list(throwaway_pki.intermediate))
    text = NginxProxy(
        "https://127.0.0.1:9",
        certificate=throwaway_pki.server,
        trust=throwaway_pki.root,
        verify_client="optional_no_ca",
        crl=crl_file,
        proxy_certificate=throwaway_pki.client,
    ).config_text(8443)
    for directive in (
        "ssl_client_certificate certs/ca.pem;",
        "ssl_verify_client      optional_no_ca;",
        "ssl_verify_depth       2;",
        "ssl_crl                certs/crl.pem;",
        "proxy_set_header X-SSL-Client-Cert   $ssl_client_escaped_cert;",
        "proxy_set_header X-SSL-Client-Verify $ssl_client_verify;",
        "proxy_set_header X-SSL-Client-S-DN   $ssl_client_s_dn;",
        'proxy_set_header X-Client-Cert           "";',
        "error_page 495 =495",
        "error_page 496 =496",
        "proxy_ssl_certificate         certs/proxy.crt;",
    ):
        assert directive in text, directive


def test_an_upstream_that_is_not_an_http_url_is_refused_before_nginx_runs():
    with pytest.raises(ValueError, match="upstream must be an http"):
        NginxProxy("127.0.0.1:9; include /etc/passwd", certificate=None, trust=None)


# ------------------------------------------------------------- lifecycle
def test_a_key_that_does_not_match_the_certificate_is_reported_from_the_error_log(
    throwaway_pki, workdir
):
    broken = throwaway_pki.intermediate.issue_server("localhost", mismatched_key=True)
    p = NginxProxy("https://127.0.0.1:9", certificate=broken, trust=throwaway_pki.root)
    with pytest.raises(NginxError, match="key values mismatch"):
        p.start()
    assert not p.running


def test_a_port_in_use_is_reported_as_port_in_use(upstream, throwaway_pki, workdir):
    with behind(upstream, throwaway_pki, workdir) as first:
        with pytest.raises(ServerError, match="already in use"):
            behind(upstream, throwaway_pki, workdir, port=first.port).start()


def test_stop_ends_nginx_and_its_workers_and_removes_the_prefix(upstream, throwaway_pki, workdir):
    p = behind(upstream, throwaway_pki, workdir).start()
    master, prefix = p.process.pid, p.prefix
    workers = subprocess.run(
        ["pgrep", "-P", str(master)], capture_output=True, text=True
    ).stdout.split()
    assert workers, "nginx should run at least one worker"
    p.stop()
    p.stop()  # idempotent
    for pid in [master, *map(int, workers)]:
        assert not _alive(pid)
    assert not prefix.exists()


def test_reset_stops_an_nginx_this_checkout_left_behind_and_no_other_checkouts(
    throwaway_pki, tmp_path, monkeypatch
):
    crt, key = throwaway_pki.server.write(tmp_path / "files" / "server")
    ca, _ = throwaway_pki.root.write(tmp_path / "files" / "root")
    ours, theirs = tmp_path / "ours" / ".lab-state", tmp_path / "theirs" / ".lab-state"
    script = (
        "import os; from lab.proxy import NginxProxy; "
        f"p = NginxProxy('https://127.0.0.1:9', certificate=({str(crt)!r}, {str(key)!r}), "
        f"trust={str(ca)!r}).start(); "
        "print(p.process.pid, flush=True); os._exit(0)"  # no atexit: a kernel nbval stopped
    )
    env = {**os.environ, "LAB_STATE_DIR": str(ours)}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env
    )
    assert out.returncode == 0, out.stderr
    pid = int(out.stdout.split()[0])
    try:
        assert _alive(pid), "the nginx of the exited process should still be running (orphaned)"
        (prefix,) = (ours / "nginx").glob(
            proxy.process.PREFIX_STEM + "*"
        )  # in the checkout, not /tmp
        assert not list(prefix.rglob("*.key")), "no private key stays on disk once nginx runs"
        monkeypatch.setenv("LAB_STATE_DIR", str(theirs))  # another checkout's reset
        assert housekeeping.reset(tmp_path / "their-certs")["nginx"] == 0
        assert _alive(pid) and prefix.exists()
        monkeypatch.setenv("LAB_STATE_DIR", str(ours))  # this checkout's reset
        done = housekeeping.reset(tmp_path / "our-certs")
        assert done["nginx"] == 1
        assert not _alive(pid)
        assert not prefix.exists()
    finally:
        if _alive(pid):
            os.killpg(pid, 9)


def test_missing_nginx_raises_the_install_instruction(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("LAB_NGINX", raising=False)
    monkeypatch.setattr(proxy.process, "SEARCH_PATH", "/nonexistent")
    with pytest.raises(NginxNotFoundError, match="apt-get install nginx.*brew install nginx"):
        find_nginx()


def test_the_proxy_refuses_to_listen_beyond_loopback(throwaway_pki):
    with pytest.raises(ServerError, match="loopback"):
        NginxProxy(
            "https://127.0.0.1:9",
            certificate=throwaway_pki.server,
            trust=throwaway_pki.root,
            host="0.0.0.0",
        )


def test_error_log_lines_are_parsed_without_timestamps_or_pids():
    nginx = proxy.Nginx("", {})
    nginx.final_log = (  # what error_log() returns once nginx has stopped
        "2026/11/26 21:40:45 [info] 8603#8603: *3 client SSL certificate verify error: (21:unable to verify "
        "the first certificate) while reading client request headers, client: 127.0.0.1, server: localhost\n"
        "2026/11/26 21:40:46 [notice] 8603#8603: signal process started\n"
    )
    assert nginx.log_messages("info") == [
        "client SSL certificate verify error: (21:unable to verify the first certificate) "
        "while reading client request headers"
    ]
    assert nginx.log_messages()[1:] == ["signal process started"]


def test_prefixes_live_in_the_checkouts_state_folder_never_in_the_system_temp_folder(
    monkeypatch, tmp_path
):
    monkeypatch.delenv("LAB_STATE_DIR", raising=False)
    assert proxy.process.runtime_dir() == ROOT / ".lab-state" / "nginx"
    monkeypatch.setenv("LAB_STATE_DIR", str(tmp_path))
    assert proxy.process.runtime_dir() == tmp_path / "nginx"


def test_an_ipv6_loopback_host_is_written_in_brackets_and_nginx_accepts_it(throwaway_pki, workdir):
    p = NginxProxy(
        "https://[::1]:9",
        certificate=throwaway_pki.server,
        trust=throwaway_pki.root,
        host="::1",
    )
    assert "listen [::1]:8443 ssl;" in p.config_text(8443)
    assert nginx_t(p) == 0  # nginx refuses "listen ::1:8443"


def test_a_room_of_keep_alive_clients_is_served_without_resets(upstream, throwaway_pki, workdir):
    """Every open keep-alive connection holds one of nginx's worker_connections (64 reset
    requests of 50 keep-alive clients): 120 open connections must all get their answer."""
    ctx = client_context(throwaway_pki.client, trust=throwaway_pki.root)
    with behind(upstream, throwaway_pki, workdir) as p:
        conns = [http.client.HTTPSConnection("localhost", p.port, context=ctx) for _ in range(120)]
        try:
            for c in conns:
                c.connect()  # all open at once, as a room of browsers and scripts keeps them
            statuses = []
            for c in conns:
                c.request("GET", "/api/secure")
                statuses.append(c.getresponse().status)
        finally:
            for c in conns:
                c.close()
    assert statuses == [200] * 120


# ---------------------------------------------------------------- helpers
def nginx_t(p: NginxProxy) -> int:
    """``nginx -t`` on the prefix ``p`` would run with: 0 when nginx accepts the configuration."""
    p.write_prefix(8443)
    command = [p.binary, "-p", f"{p.prefix}/", "-c", "nginx.conf", "-e", "logs/error.log", "-t"]
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, p.error_log() + out.stderr
        return out.returncode
    finally:
        p.stop()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead; only its parent (init here) has not collected it yet
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


# ------------------------------------------------------ serve --behind-nginx
@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_serve_behind_nginx_says_hello_to_the_printed_curl_command_and_refuses_without(
    shared_course_dir, tmp_path, host
):
    """The banner's curl line, pasted into a shell, works, also from a folder whose name holds
    a space and ``;$(...)``; on ``--host ::1`` nginx listens on ``[::1]`` (``::1:PORT`` is refused)."""
    import shutil
    import signal

    curl = shutil.which("curl")
    assert curl, "the curl binary is missing: install it (apt-get install curl), .ci/run does"
    d = tmp_path / "my certs;$(touch PWNED)"
    shutil.copytree(shared_course_dir, d)
    port = proxy.process.free_port(host)
    env = {**os.environ, "LAB_STATE_DIR": str(tmp_path)}
    cmd = [sys.executable, "-m", "lab", "serve", "--behind-nginx", "--certs", str(d)]
    proc = subprocess.Popen(
        [*cmd, "--host", host, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        banner = [proc.stdout.readline() for _ in range(4)]
        assert banner[0].startswith(f"nginx https://localhost:{port} terminates mTLS"), (
            banner,
            proc.stderr.read() if proc.poll() is not None else "",
        )
        assert banner[1].startswith("app   https://") and "behind it" in banner[1]
        assert banner[2].startswith("try:  curl --cert ")
        pasted = banner[2].removeprefix("try:  ").strip()
        hello = subprocess.run(
            ["bash", "-c", pasted], capture_output=True, text=True, timeout=30, cwd=tmp_path
        )
        refused = subprocess.run(
            [curl, "-s", "--cacert", str(d / "rootCA.pem"), "-w", "\n%{http_code}"]
            + [f"https://localhost:{port}/api/secure"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert hello.stdout == "Hello CN=MyTrustedClient,O=mTLS Lab", hello.stderr
    assert not (tmp_path / "PWNED").exists(), "the printed command ran the folder name"
    assert refused.stdout.endswith("\n496") and "Client certificate required" in refused.stdout
    assert proc.returncode == 0 and out.strip().endswith("stopped"), err
    assert not list((tmp_path / "nginx").glob(proxy.process.PREFIX_STEM + "*")), (
        "prefix left behind"
    )


def test_serve_behind_nginx_killed_leaves_no_key_on_disk_and_reset_stops_its_nginx(
    shared_course_dir, tmp_path, monkeypatch
):
    import signal

    state = tmp_path / "state"
    env = {**os.environ, "LAB_STATE_DIR": str(state)}
    cmd = [sys.executable, "-m", "lab", "serve", "--behind-nginx", "--dir", str(shared_course_dir)]
    proc = subprocess.Popen(
        [*cmd, "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        assert proc.stdout.readline().startswith("nginx https://localhost:"), proc.stderr.read()
        proc.send_signal(signal.SIGKILL)  # no handler runs: nothing in-process can clean up
        proc.wait(timeout=30)
        (prefix,) = (state / "nginx").glob(proxy.process.PREFIX_STEM + "*")
        nginx = int((prefix / "nginx.pid").read_text())
        assert _alive(nginx), "nginx outlives a SIGKILLed parent"
        assert not list(prefix.rglob("*.key")), "a private key stayed on disk"
        monkeypatch.setenv("LAB_STATE_DIR", str(state))
        done = housekeeping.reset(tmp_path / "certs")
        assert done["nginx"] == 1
        assert not _alive(nginx) and not prefix.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid_file in state.glob("nginx/" + proxy.process.PREFIX_STEM + "*/nginx.pid"):
            os.killpg(int(pid_file.read_text()), signal.SIGKILL)


@pytest.mark.parametrize("option", [{"verify_client": "required"}, {"min_tls": "1.0"}])
def test_a_value_nginx_would_not_take_is_one_line_before_nginx_runs(throwaway_pki, option):
    (name, value), upstream_url = next(iter(option.items())), "https://127.0.0.1:9"
    with pytest.raises(ValueError, match=f"^{name} must be one of .*, not '{value}'$"):
        NginxProxy(
            upstream_url, certificate=throwaway_pki.server, trust=throwaway_pki.root, **option
        )
