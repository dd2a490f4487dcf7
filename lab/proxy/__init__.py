"""The real nginx in front of the app: it terminates mTLS and forwards the certificate.

Why the real binary and not a Python imitation: the guide's advice ("mTLS behind
NGINX ... ASP.NET Core will receive client cert via header") is where real
systems get owned, and the details that decide it are nginx's own: which status
it answers for a missing or bad certificate (496, 495), what
``$ssl_client_escaped_cert`` looks like, and the fact that ``proxy_set_header``
*replaces* a client-supplied header of the same name but passes every other
header through untouched. Only nginx itself shows those honestly.

Two halves:

* :class:`ProxyConfig` renders an ``nginx.conf`` (pure text, every path relative
  to the prefix, so the text is the same on every machine): ``ssl_verify_client
  on|optional|optional_no_ca``, ``ssl_verify_depth``, ``ssl_crl``, the
  certificate forwarded in ``X-SSL-Client-Cert`` (URL-encoded PEM) with the
  verification result and subject, the client's look-alike headers cleared,
  495/496 answered as ``application/problem+json``, and optionally mTLS from
  nginx to the app (``proxy_ssl_certificate``) so the app can tell the proxy
  from anyone else.
* :class:`NginxProxy` writes that configuration and the certificates into a
  private prefix directory, runs ``nginx -p PREFIX -c PREFIX/nginx.conf -g
  'daemon off;'`` on a loopback port, waits until it listens, stops it, removes
  the prefix, and surfaces its error log when anything goes wrong.

Running as root: nginx's master process switches its workers to the ``user``
directive's account (``nobody`` by default), which cannot enter a private
prefix. The lab runs the workers as the current user instead (``user root
root;`` when root, no ``user`` line otherwise): the prefix stays 0700 and the
private keys 0600, readable by nobody else.
"""

from __future__ import annotations

import atexit
import grp
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from lab.errors import LabError, PortInUseError, ServerError
from lab.net import require_loopback
from lab.pki import write_private, write_public
from lab.tls import policy as tlspolicy
from lab.tls.contexts import as_identity, trust_pem

#: What to do when nginx is missing; notebooks and tests print exactly this.
INSTALL_HINT = (
    "nginx is not installed (or not on PATH): install it with `sudo apt-get install nginx` "
    "(Debian/Ubuntu) or `brew install nginx` (macOS), then run this again"
)

#: The headers nginx sets for the app, and the nginx variable each one carries.
CERT_HEADER = "X-SSL-Client-Cert"  # URL-encoded PEM of the client's leaf certificate
VERIFY_HEADER = "X-SSL-Client-Verify"  # SUCCESS, NONE or FAILED:<reason>
DN_HEADER = "X-SSL-Client-S-DN"  # the subject, RFC 2253 (CN=...,O=...)
FORWARDED = {
    CERT_HEADER: "$ssl_client_escaped_cert",
    VERIFY_HEADER: "$ssl_client_verify",
    DN_HEADER: "$ssl_client_s_dn",
}

#: Other names under which some app, somewhere, looks for a client certificate
#: (ASP.NET's default, IIS ARR, ingress-nginx, Envoy). ``proxy_set_header`` only
#: replaces the names it sets; a client's copy of any *other* name reaches the app
#: as the client wrote it. A safe proxy clears every one of them.
LOOKALIKE_HEADERS = (
    "X-Client-Cert",
    "X-ARR-ClientCert",
    "ssl-client-cert",
    "ssl-client-verify",
    "ssl-client-subject-dn",
    "X-Forwarded-Client-Cert",
)

#: ``ssl_verify_client`` values. "optional_no_ca" asks for a certificate but lets
#: any certificate through (verification result in $ssl_client_verify): the app
#: must then validate it itself.
VERIFY_CLIENT_MODES = ("on", "optional", "optional_no_ca", "off")

#: Where the prefix keeps each file (relative paths: nginx resolves them against -p).
FILES = {
    "server_cert": "certs/server.crt",
    "server_key": "certs/server.key",
    "client_ca": "certs/client-ca.pem",
    "crl": "certs/crl.pem",
    "proxy_cert": "certs/proxy.crt",
    "proxy_key": "certs/proxy.key",
    "upstream_ca": "certs/upstream-ca.pem",
}

PREFIX_STEM = "mtls-lab-nginx-"
_SEARCH_PATH = "/usr/sbin:/usr/local/sbin:/usr/local/bin:/opt/homebrew/bin:/opt/homebrew/sbin"


class NginxNotFoundError(LabError):
    """The nginx binary is not installed (the message says how to install it)."""


class NginxError(ServerError):
    """nginx refused the configuration or failed to start; the message carries its error log."""


# ------------------------------------------------------------------ binary
def find_nginx() -> str:
    """The nginx binary: $LAB_NGINX, then PATH, then the sbin folders where packages put it."""
    env = os.environ.get("LAB_NGINX")
    if env:
        if Path(env).is_file() and os.access(env, os.X_OK):
            return env
        raise NginxNotFoundError(
            f"LAB_NGINX={env} is not an executable file; unset it, or {INSTALL_HINT}"
        )
    found = shutil.which("nginx") or shutil.which("nginx", path=_SEARCH_PATH)
    if not found:
        raise NginxNotFoundError(INSTALL_HINT)
    return found


def nginx_version(binary: str | None = None) -> str:
    """``nginx/1.22.1``: what ``nginx -v`` prints (on stderr), without the prefix."""
    out = subprocess.run([binary or find_nginx(), "-v"], capture_output=True, text=True, timeout=30)
    text = (out.stderr or out.stdout).strip()
    return text.split(": ", 1)[-1]


def require_nginx() -> str:
    """One line for the top of notebook 07: the version, or the exact install instruction."""
    return f"{nginx_version()} found: the proxy in this notebook is the real thing"


# ------------------------------------------------------------ configuration
@dataclass
class ProxyConfig:
    """Everything ``nginx.conf`` says, and :meth:`render` to write it.

    ``upstream`` is the app's URL as nginx reaches it (``https://127.0.0.1:PORT``).
    ``clear_client_headers=False`` renders the *mistake*: the look-alike headers
    a client sends pass through to the app untouched.
    ``proxy_certificate`` makes nginx present its own client certificate to the
    app (``proxy_ssl_certificate``) so the app can check who forwarded the header.
    ``proxy_bind`` is the loopback address nginx connects to the app from.
    """

    port: int
    upstream: str
    verify_client: str = "on"
    verify_depth: int = 2
    crl: bool = False
    clear_client_headers: bool = True
    proxy_certificate: bool = False
    upstream_verify: bool = True
    upstream_name: str = "localhost"
    proxy_bind: str | None = None
    server_name: str = "localhost"
    host: str = "127.0.0.1"
    min_tls: str = "1.2"
    tls_profile: str = "intermediate"
    user: str | None = field(default_factory=lambda: _worker_user())

    def __post_init__(self):
        if self.verify_client not in VERIFY_CLIENT_MODES:
            raise ValueError(
                f"verify_client must be one of {', '.join(VERIFY_CLIENT_MODES)}, "
                f"not {self.verify_client!r}"
            )
        if not (0 <= int(self.verify_depth) <= 100):
            raise ValueError(
                "verify_depth is how many intermediate CAs may sit between the client "
                "certificate and the trusted root (OpenSSL's count): use 0 to 100"
            )
        if self.min_tls not in ("1.2", "1.3"):
            raise ValueError("min_tls must be '1.2' or '1.3'")
        if not re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:]+(/.*)?", self.upstream):
            raise ValueError(
                f"upstream must be an http(s) URL such as https://127.0.0.1:8443, "
                f"not {self.upstream!r}"
            )

    def render(self) -> str:
        """The configuration text (paths relative to the prefix, so it reads the same anywhere)."""
        f = FILES
        tlspolicy.check_profile(self.tls_profile)
        modern = self.tls_profile == "modern"
        protocols = "TLSv1.2 TLSv1.3" if self.min_tls == "1.2" and not modern else "TLSv1.3"
        policy = tlspolicy.nginx_directives(self.tls_profile, tls12="1.2" in protocols)
        lines = [
            "# nginx.conf generated by lab.proxy: mTLS ends here; the app gets the certificate in a header.",
            "# Relative paths are relative to the prefix (nginx -p PREFIX).",
        ]
        if self.user:
            lines.append(f"user {self.user};  # workers run as the current user (see lab.proxy)")
        lines += [
            "worker_processes 1;",
            "pid nginx.pid;",
            "error_log logs/error.log info;  # info: shows why a client certificate was refused",
            "",
            "events {",
            "    worker_connections 64;",
            "}",
            "",
            "http {",
            '    log_format mtls \'$remote_addr "$request" $status verify=$ssl_client_verify dn="$ssl_client_s_dn"\';',
            "    access_log logs/access.log mtls;",
            "    client_body_temp_path temp/client_body;",
            "    proxy_temp_path       temp/proxy;",
            "    fastcgi_temp_path     temp/fastcgi;",
            "    uwsgi_temp_path       temp/uwsgi;",
            "    scgi_temp_path        temp/scgi;",
            "",
            f"    # Mozilla {self.tls_profile} {tlspolicy.MOZILLA_VERSION} (ssl-config.mozilla.org),",
            "    # as lab.tls.policy sets it; every server below inherits it",
            *(f"    {name} {value};" for name, value in policy),
            "",
            "    server {",
            f"        listen {self.host}:{self.port} ssl;",
            f"        server_name {self.server_name};",
            "",
            "        # The proxy's own server certificate, sent to every client",
            f"        ssl_certificate     {f['server_cert']};",
            f"        ssl_certificate_key {f['server_key']};",
            f"        ssl_protocols       {protocols};",
            "",
            "        # Mutual TLS: the CAs that may vouch for clients, and how strictly",
        ]
        if self.verify_client != "off":
            lines.append(f"        ssl_client_certificate {f['client_ca']};")
        lines += [
            f"        ssl_verify_client      {self.verify_client};",
            f"        ssl_verify_depth       {int(self.verify_depth)};",
        ]
        if self.crl:
            lines.append(
                f"        ssl_crl                {f['crl']};  # revoked certificates are refused (495)"
            )
        lines += [
            "",
            "        # 495 = certificate refused, 496 = no certificate: answer problem+json, not HTML",
            "        error_page 495 =495 @client_certificate_refused;",
            "        error_page 496 =496 @client_certificate_missing;",
            "        location @client_certificate_refused {",
            "            default_type application/problem+json;",
            "            return 495 '"
            + _problem_json(
                495,
                "Client certificate refused",
                "nginx could not verify the client certificate ($ssl_client_verify)",
            )
            + "';",
            "        }",
            "        location @client_certificate_missing {",
            "            default_type application/problem+json;",
            "            return 496 '"
            + _problem_json(
                496,
                "Client certificate required",
                "this endpoint needs a client certificate and the connection carried none",
            )
            + "';",
            "        }",
            "",
            "        location / {",
            f"            proxy_pass {self.upstream};",
        ]
        if self.proxy_bind:
            lines.append(
                f"            proxy_bind {self.proxy_bind};  # the app trusts headers from this address"
            )
        lines += [
            "            proxy_http_version 1.1;",
            "            proxy_set_header Host              $host;",
            "            proxy_set_header X-Forwarded-For   $remote_addr;",
            "            proxy_set_header X-Forwarded-Proto https;",
            "",
            "            # What nginx verified, for the app. proxy_set_header REPLACES a client's copy",
            "            # of these names (an empty value removes the header).",
        ]
        width = max(len(h) for h in FORWARDED)
        lines += [f"            proxy_set_header {h:<{width}} {v};" for h, v in FORWARDED.items()]
        if self.clear_client_headers:
            lines += [
                "",
                "            # Every other name an app might read a certificate from: clear the client's copy.",
            ]
            width = max(len(h) for h in LOOKALIKE_HEADERS)
            lines += [f'            proxy_set_header {h:<{width}} "";' for h in LOOKALIKE_HEADERS]
        if self.upstream.startswith("https://"):
            lines += ["", "            # nginx -> app is TLS too"]
            if self.upstream_verify:
                lines += [
                    f"            proxy_ssl_trusted_certificate {f['upstream_ca']};",
                    "            proxy_ssl_verify              on;",
                    f"            proxy_ssl_verify_depth        {int(self.verify_depth)};",
                    f"            proxy_ssl_name                {self.upstream_name};",
                    "            proxy_ssl_server_name         on;",
                ]
            if self.proxy_certificate:
                lines += [
                    "            # ...and mutual: nginx proves to the app that it is the proxy",
                    f"            proxy_ssl_certificate         {f['proxy_cert']};",
                    f"            proxy_ssl_certificate_key     {f['proxy_key']};",
                ]
        lines += ["        }", "    }", "}", ""]
        return "\n".join(lines)

    def server_block(self) -> str:
        """Only the ``server { ... }`` block: the part that is about mTLS (what notebook 07 prints)."""
        lines = self.render().splitlines()
        start = lines.index("    server {")
        end = lines.index("    }", start)
        return "\n".join(line[4:] for line in lines[start : end + 1])


def _problem_json(status: int, title: str, detail: str) -> str:
    """An RFC 9457 body as nginx will send it (``$ssl_client_verify`` is expanded by nginx)."""
    return '{"type":"about:blank","title":"%s","status":%d,"detail":"%s"}\\n' % (
        title,
        status,
        detail,
    )


def _worker_user() -> str | None:
    """``user NAME GROUP`` for the workers when root (else nginx ignores the directive with a warning)."""
    if os.geteuid() != 0:
        return None
    try:
        name = pwd.getpwuid(os.getuid()).pw_name
        group = grp.getgrgid(os.getgid()).gr_name
    except KeyError:  # pragma: no cover - a uid without a passwd entry
        return None
    return f"{name} {group}"


# --------------------------------------------------------------- the process
_RUNNING: set["NginxProxy"] = set()
_lock = threading.Lock()


def runtime_dir() -> Path:
    """Where prefixes are created: $LAB_NGINX_DIR, else the system temp folder."""
    return Path(os.environ.get("LAB_NGINX_DIR") or tempfile.gettempdir())


@dataclass(frozen=True)
class LogLine:
    """One error-log line without its timestamp, pid and connection number (stable to print)."""

    level: str
    message: str

    def __str__(self) -> str:
        return f"[{self.level}] {self.message}"


_LOG_RE = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[(\w+)\] \d+#\d+: (?:\*\d+ )?(.*)$")


def parse_log(text: str) -> list[LogLine]:
    out = []
    for line in text.splitlines():
        m = _LOG_RE.match(line)
        if m:
            # drop nginx's trailing context (", client: 127.0.0.1, server: ...") for a stable line
            out.append(LogLine(m.group(1), m.group(2).split(", client: ", 1)[0]))
    return out


class NginxProxy:
    """The real nginx, terminating mTLS on a loopback port and forwarding to ``upstream``.

    >>> with NginxProxy(app_server, certificate=srv, trust=ca) as proxy:
    ...     client.session(alice, trust=ca).get(proxy.url + "/api/secure")

    ``upstream`` is a running :class:`~lab.server.MTLSServer` (nginx then reaches it
    over TLS and verifies it against ``upstream_trust``, default ``trust``) or a URL.
    ``certificate`` is what nginx presents to clients; ``trust`` the CA(s) client
    certificates must chain to; ``crl`` a PEM CRL (path or bytes);
    ``proxy_certificate`` the client certificate nginx presents to the app.
    ``port=0`` picks a free port (nginx itself cannot: it refuses ``listen ...:0``).
    ``tls_profile`` is Mozilla's "intermediate" (default) or "modern" (lab.tls.policy).
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
        self._log_mark = 0
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

    # ---------------------------------------------------------- the prefix
    def _write_prefix(self) -> Path:
        base = self.workdir or runtime_dir()
        base.mkdir(parents=True, exist_ok=True)
        prefix = Path(tempfile.mkdtemp(prefix=PREFIX_STEM, dir=base))  # 0700
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
        return prefix

    def _command(self, *extra: str) -> list[str]:
        return [
            self.binary,
            "-p",
            f"{self.prefix}/",
            "-c",
            str(self.prefix / "nginx.conf"),
            "-e",
            "logs/error.log",
            *extra,
        ]

    @property
    def config_text(self) -> str:
        return self.config.render()

    def test_config(self) -> str:
        """Run ``nginx -t`` on the configuration; return its verdict or raise :class:`NginxError`."""
        own_prefix = self.prefix is None
        if own_prefix:
            self.prefix = self._write_prefix()
            (self.prefix / "nginx.conf").write_text(self.config_text)
        try:
            out = subprocess.run(
                self._command("-t", "-q"), capture_output=True, text=True, timeout=30
            )
            if out.returncode != 0:
                raise NginxError(
                    "nginx -t refused the configuration:\n" + _tail(self._read_log() or out.stderr)
                )
            return "nginx -t: the configuration is valid"
        finally:
            if own_prefix:
                shutil.rmtree(self.prefix, ignore_errors=True)
                self.prefix = None

    # ----------------------------------------------------------- lifecycle
    def start(self) -> "NginxProxy":
        """Write the prefix, start nginx, and return once it listens (no-op when running)."""
        if self.running:
            return self
        attempts = 1 if self.requested_port else 5
        last = ""
        for _ in range(attempts):
            port = self.requested_port or _free_port(self.host)
            self.config = ProxyConfig(port=port, upstream=self._upstream_url(), **self._options)
            self.prefix = self._write_prefix()
            (self.prefix / "nginx.conf").write_text(self.config_text)
            log = open(self.prefix / "logs" / "stderr.log", "wb")
            try:
                self.process = subprocess.Popen(
                    self._command("-g", "daemon off;"),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            finally:
                log.close()
            with _lock:
                _RUNNING.add(self)
            try:
                self._wait_ready()
                self._port = port
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
                    + _tail(self._read_log())
                )
            try:
                if int(pid_file.read_text().strip() or 0) == self.process.pid:
                    return
            except (FileNotFoundError, ValueError):
                pass
            time.sleep(0.02)
        raise NginxError(
            f"nginx did not start within {self.start_timeout:.0f} s:\n" + _tail(self._read_log())
        )

    def stop(self) -> None:
        """Fast shutdown (SIGTERM: the master stops its workers), then remove the prefix. Idempotent."""
        proc, self.process = self.process, None
        with _lock:
            _RUNNING.discard(self)
        if proc is not None:
            _terminate(proc.pid, wait=proc.wait)
        if self.prefix is not None:
            self.final_log = self._read_log()
            shutil.rmtree(self.prefix, ignore_errors=True)
            self.prefix = None
        self._port = None

    def __enter__(self) -> "NginxProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ----------------------------------------------------------------- logs
    def _read_log(self) -> str:
        if self.prefix is None:
            return getattr(self, "final_log", "")
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

    def access_log(self) -> list[str]:
        """The access log (no timestamps: remote address, request, status, verify result, DN)."""
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


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _tail(text: str, n: int = 15) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return "\n".join(lines[-n:]) or "(the error log is empty)"


def _der_crl_to_pem(data: bytes) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        return x509.load_der_x509_crl(data).public_bytes(serialization.Encoding.PEM)
    except ValueError:
        raise NginxError("the CRL is neither PEM nor DER; pass the file `pki crl` wrote") from None


def _terminate(pid: int, *, wait=None, timeout: float = 5.0) -> None:
    """SIGTERM the nginx master, wait, then SIGKILL its process group (ours: start_new_session)."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    if wait is not None:
        try:
            wait(timeout=timeout)
            return
        except subprocess.TimeoutExpired:
            pass
    else:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.05)
        if not _alive(pid):
            return
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if wait is not None:
        wait(timeout=timeout)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _started_by_lab(pid: int, prefix: Path) -> bool:
    """True only for an nginx whose command line names this prefix (never someone else's nginx)."""
    try:
        cmd = (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        out = subprocess.run(
            ["ps", "-p", str(pid), "-o", "command="], capture_output=True, text=True
        )
        cmd = out.stdout
    return "nginx" in cmd and str(prefix) in cmd


def running_proxies() -> list[NginxProxy]:
    with _lock:
        return list(_RUNNING)


def stop_all(directory: str | os.PathLike | None = None) -> int:
    """Stop every nginx the lab started and remove its prefix; return how many were stopped.

    Covers this process's proxies and those a crashed kernel left behind: every
    ``mtls-lab-nginx-*`` prefix in ``directory`` (default :func:`runtime_dir`)
    whose pid file names a live nginx started with that prefix.
    """
    stopped = 0
    for proxy in running_proxies():
        proxy.stop()
        stopped += 1
    base = Path(directory) if directory else runtime_dir()
    for prefix in sorted(base.glob(PREFIX_STEM + "*")):
        pid_file = prefix / "nginx.pid"
        try:
            pid = int(pid_file.read_text().strip())
        except (OSError, ValueError):
            pid = 0
        if pid and _alive(pid) and _started_by_lab(pid, prefix):
            _terminate(pid)
            stopped += 1
        elif not pid and time.time() - prefix.stat().st_mtime < 30:
            continue  # another process may be starting this one right now
        shutil.rmtree(prefix, ignore_errors=True)
    return stopped


atexit.register(lambda: [p.stop() for p in running_proxies()])


def loopback_alias_available(address: str = "127.0.0.2") -> bool:
    """Can we connect *from* ``address``? Linux routes all of 127/8; macOS has only 127.0.0.1 by default."""
    try:
        with socket.socket() as s:
            s.bind((address, 0))
        return True
    except OSError:
        return False
