"""Running the real nginx: :class:`NginxProxy` writes a private prefix, starts, waits, stops.

``nginx -p PREFIX -c PREFIX/nginx.conf -g 'daemon off;'`` on a loopback port;
"ready" is the pid file nginx writes after binding its sockets; stop is SIGTERM
to the master (a fast shutdown), then the prefix is removed. Anything that goes
wrong surfaces nginx's own error log.

Keys on disk only while nginx reads them: nginx loads ``ssl_certificate_key``
and ``proxy_ssl_certificate_key`` when it parses its configuration (paths
without variables; see the ssl module's docs), so once it listens the private
keys are deleted from the prefix. A run killed with SIGKILL leaves no key
behind; ``lab reset`` stops its nginx, which this checkout recorded
(:mod:`lab.housekeeping`), and removes the prefix.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from lab import housekeeping
from lab.errors import PortInUseError
from lab.net import free_port, require_loopback
from lab.pki import write_private, write_public
from lab.proxy.binary import NginxError, find_nginx
from lab.proxy.config import FILES, ProxyConfig
from lab.proxy.logs import LogLine, parse_log, tail
from lab.tls.contexts import as_identity, trust_pem

PREFIX_STEM = "mtls-lab-nginx-"
_RUNNING: set["NginxProxy"] = set()
_lock = threading.Lock()


def runtime_dir() -> Path:
    """Where prefixes are created: $LAB_NGINX_DIR, else the system temp folder."""
    return Path(os.environ.get("LAB_NGINX_DIR") or tempfile.gettempdir())


class NginxProxy:
    """The real nginx, terminating mTLS on a loopback port and forwarding to ``upstream``.

    >>> with NginxProxy(app_server, certificate=srv, trust=ca) as proxy:
    ...     client.session(alice, trust=ca).get(proxy.url + "/api/secure")

    ``upstream`` is a running :class:`~lab.tls.server.MTLSServer` (nginx then reaches it
    over TLS and verifies it against ``upstream_trust``, default ``trust``) or a URL.
    ``certificate`` is what nginx presents to clients; ``trust`` the CA(s) client
    certificates must chain to; ``crl`` a CRL file (path or bytes, PEM or DER) that
    becomes ``ssl_crl``; ``proxy_certificate`` the client certificate nginx presents
    to the app. ``port=0`` picks a free port (nginx itself cannot: it refuses
    ``listen ...:0``). ``tls_profile`` is Mozilla's "intermediate" (default) or "modern"
    (lab.tls.policy).
    """

    def __init__(
        self,
        upstream,
        *,
        certificate,
        trust=None,
        verify_client: str = "on",
        verify_depth: int = 2,
        crl=None,
        clear_client_headers: bool = True,
        proxy_certificate=None,
        upstream_trust=None,
        proxy_bind: str | None = None,
        port: int = 0,
        host: str = "127.0.0.1",
        min_tls: str = "1.2",
        tls_profile: str = "intermediate",
        binary: str | None = None,
        workdir: str | os.PathLike | None = None,
        start_timeout: float = 15.0,
    ):
        require_loopback(host)
        if proxy_bind:
            require_loopback(proxy_bind)
        self.binary = binary or find_nginx()
        self.upstream = upstream
        self.certificate = as_identity(certificate)
        self.trust = trust
        self.crl = crl
        self.proxy_certificate = (
            as_identity(proxy_certificate) if proxy_certificate is not None else None
        )
        self.upstream_trust = upstream_trust if upstream_trust is not None else trust
        self.requested_port = port
        self.workdir = Path(workdir) if workdir else None
        self.start_timeout = start_timeout
        if verify_client != "off" and trust is None:
            raise ValueError("trust is required: the CA(s) that client certificates must chain to")
        if self.upstream_trust is None and self._upstream_url().startswith("https://"):
            raise ValueError(
                "upstream_trust is required for an https upstream: the CA that signed the "
                "app's certificate (nginx verifies the app, as any client should)"
            )
        self._options = dict(
            verify_client=verify_client,
            verify_depth=verify_depth,
            crl=crl is not None,
            clear_client_headers=clear_client_headers,
            proxy_certificate=self.proxy_certificate is not None,
            proxy_bind=proxy_bind,
            host=host,
            min_tls=min_tls,
            tls_profile=tls_profile,
        )
        self.host = host
        self.prefix: Path | None = None
        self.process: subprocess.Popen | None = None
        self._port: int | None = None
        self.final_log = ""  # the log as it was at stop(), once the prefix is gone
        self.config = ProxyConfig(port=port or 1, upstream=self._upstream_url(), **self._options)

    # ----------------------------------------------------------- addresses
    def _upstream_url(self) -> str:
        up = self.upstream
        if isinstance(up, str):
            return up.rstrip("/")
        # a lab server: reach it by IP (nginx resolves "localhost" to ::1 too), verify the name
        return f"https://127.0.0.1:{up.port}"

    @property
    def port(self) -> int:
        if self._port is None:
            raise NginxError("nginx has not been started yet; call start() or use `with`")
        return self._port

    @property
    def url(self) -> str:
        return f"https://localhost:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def __repr__(self) -> str:
        state = f"running at {self.url}" if self.running else "stopped"
        return f"<NginxProxy verify_client={self.config.verify_client} {state}>"

    @property
    def config_text(self) -> str:
        return self.config.render()

    # ---------------------------------------------------------- the prefix
    def _write_prefix(self) -> Path:
        base = self.workdir or runtime_dir()
        base.mkdir(parents=True, exist_ok=True)
        prefix = Path(tempfile.mkdtemp(prefix=PREFIX_STEM, dir=base))  # 0700
        housekeeping.record_leftover(prefix)  # holds keys until stop(); reset removes it
        for sub in ("logs", "temp", "certs"):
            (prefix / sub).mkdir()
        write_public(prefix / FILES["server_cert"], self.certificate.chain_pem)
        write_private(prefix / FILES["server_key"], self.certificate.key_pem())
        if self.trust is not None:
            write_public(prefix / FILES["client_ca"], trust_pem(self.trust).encode())
        if self.crl is not None:
            data = self.crl if isinstance(self.crl, bytes) else Path(self.crl).read_bytes()
            if b"-----BEGIN X509 CRL-----" not in data:
                data = _der_crl_to_pem(data)
            write_public(prefix / FILES["crl"], data)
        if self.upstream_trust is not None:
            write_public(prefix / FILES["upstream_ca"], trust_pem(self.upstream_trust).encode())
        if self.proxy_certificate is not None:
            write_public(prefix / FILES["proxy_cert"], self.proxy_certificate.chain_pem)
            write_private(prefix / FILES["proxy_key"], self.proxy_certificate.key_pem())
        (prefix / "nginx.conf").write_text(self.config_text)
        return prefix

    def _command(self, *extra: str) -> list[str]:
        conf = str(self.prefix / "nginx.conf")
        return [self.binary, "-p", f"{self.prefix}/", "-c", conf, "-e", "logs/error.log", *extra]

    # ----------------------------------------------------------- lifecycle
    def start(self) -> "NginxProxy":
        """Write the prefix, start nginx, and return once it listens (no-op when running)."""
        if self.running:
            return self
        attempts = 1 if self.requested_port else 5
        last = ""
        for _ in range(attempts):
            port = self.requested_port or free_port(self.host)
            self.config = ProxyConfig(port=port, upstream=self._upstream_url(), **self._options)
            self.prefix = self._write_prefix()
            with open(self.prefix / "logs" / "stderr.log", "wb") as log:
                self.process = subprocess.Popen(
                    self._command("-g", "daemon off;"),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            housekeeping.record_process(self.process.pid, kind="nginx")
            with _lock:
                _RUNNING.add(self)
            try:
                self._wait_ready()
                self._port = port
                self._remove_keys()
                return self
            except NginxError as exc:
                last = str(exc)
                in_use = "Address already in use" in last
                self.stop()
                if in_use and self.requested_port:
                    raise PortInUseError(
                        f"port {port} on {self.host} is already in use; stop the other "
                        f"server or choose another port (0 picks a free one)"
                    ) from None
                if not in_use:
                    raise
        raise NginxError(last)

    def _wait_ready(self) -> None:
        """nginx writes its pid file after binding its listening sockets: that is "ready"."""
        pid_file = self.prefix / "nginx.pid"
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise NginxError(
                    f"nginx exited with status {self.process.returncode} while starting:\n"
                    + tail(self._read_log())
                )
            try:
                if int(pid_file.read_text().strip() or 0) == self.process.pid:
                    return
            except (FileNotFoundError, ValueError):
                pass
            time.sleep(0.02)
        raise NginxError(
            f"nginx did not start within {self.start_timeout:.0f} s:\n" + tail(self._read_log())
        )

    def _remove_keys(self) -> None:
        """nginx holds the keys in memory now: none stays on disk for a crash to leave behind."""
        for name in ("server_key", "proxy_key"):
            (self.prefix / FILES[name]).unlink(missing_ok=True)

    def stop(self) -> None:
        """Fast shutdown (SIGTERM: the master stops its workers), then remove the prefix. Idempotent."""
        proc, self.process = self.process, None
        with _lock:
            _RUNNING.discard(self)
        self.final_log = shut_down(proc, self.prefix, self._read_log, self.final_log)
        self.prefix = None
        self._port = None

    def __enter__(self) -> "NginxProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ----------------------------------------------------------------- logs
    def _read_log(self) -> str:
        if self.prefix is None:
            return self.final_log
        parts = []
        for name in ("error.log", "stderr.log"):
            try:
                parts.append((self.prefix / "logs" / name).read_text(errors="replace"))
            except FileNotFoundError:
                pass
        return "".join(parts)

    def error_log(self) -> str:
        """nginx's error log, raw."""
        return self._read_log()

    def log_lines(self, *, level: str | None = None, since: int = 0) -> list[LogLine]:
        """The error log as stable :class:`LogLine` s (optionally one level, from index ``since``)."""
        lines = parse_log(self._read_log())[since:]
        return [ln for ln in lines if level is None or ln.level == level]

    def mark(self) -> int:
        """The current length of the parsed log: pass it as ``since=`` to see only what follows."""
        return len(parse_log(self._read_log()))

    def client_certificate_log(self, since: int = 0) -> list[str]:
        """What nginx logged about client certificates (its reasons for 495/496)."""
        return [
            ln.message
            for ln in self.log_lines(level="info", since=since)
            if "certificate" in ln.message
        ]

    def access_log(self, at_least: int = 0, timeout: float = 3.0) -> list[str]:
        """The access log (no timestamps: remote address, request, status, verify result, DN).

        nginx writes a request's line when it finalises the request, which can be after the
        client has read the response: ``at_least=N`` waits (up to ``timeout``) for N lines.
        """
        deadline = time.monotonic() + timeout
        while True:
            lines = self._access_lines()
            if len(lines) >= at_least or time.monotonic() > deadline:
                return lines
            time.sleep(0.02)

    def _access_lines(self) -> list[str]:
        if self.prefix is None:
            return []
        try:
            return (self.prefix / "logs" / "access.log").read_text().splitlines()
        except FileNotFoundError:
            return []

    def curl_command(
        self,
        path: str = "/api/secure",
        *,
        cert: str = "certs/client.crt",
        key: str = "certs/client.key",
        cacert: str = "certs/rootCA.pem",
    ) -> str:
        return f"curl --cert {cert} --key {key} --cacert {cacert} {self.url}{path}"


def _der_crl_to_pem(data: bytes) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        return x509.load_der_x509_crl(data).public_bytes(serialization.Encoding.PEM)
    except ValueError:
        raise NginxError("the CRL is neither PEM nor DER; pass the file `pki crl` wrote") from None


def terminate(pid: int, *, wait, timeout: float = 5.0) -> None:
    """SIGTERM the nginx master, wait, then SIGKILL its process group (ours: start_new_session)."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        wait(timeout=timeout)
        return
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    wait(timeout=timeout)


def shut_down(proc: subprocess.Popen | None, prefix: Path | None, read_log, last_log: str) -> str:
    """Stop an nginx this checkout started and remove its prefix; return its last log.

    The one shutdown for every nginx the lab runs (the proxy and the hand-written one): the
    master is stopped first, so the log is complete when it is read, and the prefix (which
    held the keys until nginx loaded them) is removed and forgotten by ``lab reset``.
    """
    if proc is not None:
        terminate(proc.pid, wait=proc.wait)
        housekeeping.forget_process(proc.pid)
        if proc.stderr is not None:
            proc.stderr.close()
    if prefix is None:
        return last_log
    last_log = read_log()
    shutil.rmtree(prefix, ignore_errors=True)
    housekeeping.forget_leftover(prefix)
    return last_log


def running_proxies() -> list[NginxProxy]:
    with _lock:
        return list(_RUNNING)


def stop_all() -> int:
    """Stop every nginx this process started and remove its prefix; return how many were stopped.

    An nginx another process of this checkout left behind (a killed kernel, a
    ``serve`` killed with SIGKILL) is stopped by :func:`lab.housekeeping.reset`,
    from what this checkout recorded; never by matching names.
    """
    stopped = 0
    for proxy in running_proxies():
        proxy.stop()
        stopped += 1
    return stopped


atexit.register(stop_all)
