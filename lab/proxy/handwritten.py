"""The real nginx, run from a ``server { ... }`` body you write yourself.

Why this exists next to :class:`lab.proxy.NginxProxy`: that class renders a
complete, hardened configuration, which is what you want to run and exactly what
hides nginx's own defaults. To see what nginx does *out of the box* (a missing
client certificate is a plain ``400``, not ``496``), what one directive changes
(``ssl_stapling``, ``proxy_set_header``), or what an exercise's directive really
does, you need nginx with nothing but the lines you wrote. :class:`HandWrittenNginx`
adds only what nginx cannot start without: ``listen`` on a free loopback port,
a pid file, logs and temp folders inside a private 0700 prefix, and the files
you hand it (keys 0600). :func:`advertised_ca_names` asks ``openssl s_client``
which CA names a TLS server puts in its CertificateRequest.
"""

from __future__ import annotations

import atexit
import subprocess
import tempfile
import time
from pathlib import Path

from lab import housekeeping
from lab.net import free_port, require_loopback
from lab.pki import write_private, write_public
from lab.proxy import PREFIX_STEM, NginxError, find_nginx, parse_log, runtime_dir
from lab.proxy.config import worker_user
from lab.proxy.process import shut_down

_HTTP = """\
worker_processes 1;
pid nginx.pid;
error_log logs/error.log info;
{user}
events {{
    worker_connections 16;
}}

http {{
    access_log off;
    client_body_temp_path temp/client_body;
    proxy_temp_path       temp/proxy;
    fastcgi_temp_path     temp/fastcgi;
    uwsgi_temp_path       temp/uwsgi;
    scgi_temp_path        temp/scgi;

    server {{
        listen {host}:{port} ssl;
{body}
    }}
}}
"""


#: Running instances, stopped at interpreter exit (a crashed kernel's are left to ``lab reset``,
#: which finds them by their ``mtls-lab-nginx-*`` prefix like any lab nginx).
_RUNNING: set = set()
atexit.register(lambda: [n.stop() for n in list(_RUNNING)])


class HandWrittenNginx:
    """nginx serving ``body`` (the directives inside ``server { }``) on a loopback port.

    ``files`` maps a relative path (``certs/server.crt``) to its bytes; paths
    ending in ``.key`` are written 0600. Relative paths in ``body`` resolve
    against the prefix, so ``ssl_certificate certs/server.crt;`` just works.

    >>> with HandWrittenNginx(body, {"certs/server.crt": pem, ...}) as nginx:
    ...     requests.get(nginx.url)
    """

    def __init__(self, body: str, files: dict[str, bytes], *, host: str = "127.0.0.1"):
        require_loopback(host)
        self.body = body
        self.files = dict(files)
        self.host = host
        self.binary = find_nginx()
        self.prefix: Path | None = None
        self.process: subprocess.Popen | None = None
        self.port: int | None = None
        self.final_log = ""

    @property
    def url(self) -> str:
        return f"https://localhost:{self.port}"

    def config_text(self, port: int) -> str:
        body = "\n".join("        " + line if line else "" for line in self.body.splitlines())
        user = worker_user()
        return _HTTP.format(
            user=f"user {user};" if user else "", host=self.host, port=port, body=body
        )

    def start(self) -> "HandWrittenNginx":
        """Write the prefix, start nginx and return once it listens; raise NginxError with its log."""
        last = ""
        for _ in range(5):  # another process may take the free port before nginx binds it
            port = free_port(self.host)
            self._write_prefix(port)
            self.process = subprocess.Popen(
                [self.binary, "-p", f"{self.prefix}/", "-c", "nginx.conf", "-e", "logs/error.log"]
                + ["-g", "daemon off;"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
            housekeeping.record_process(self.process.pid, kind="nginx")  # reset finds it
            try:
                self._wait_ready()
                self.port = port
                _RUNNING.add(self)
                return self
            except NginxError as exc:
                last = str(exc)
                self.stop()
                if "Address already in use" not in last:
                    raise
        raise NginxError(last)

    def _write_prefix(self, port: int) -> None:
        base = runtime_dir()
        base.mkdir(parents=True, exist_ok=True)
        self.prefix = Path(tempfile.mkdtemp(prefix=PREFIX_STEM, dir=base))  # 0700
        housekeeping.record_leftover(self.prefix)  # holds keys until stop(); reset removes it
        for sub in ("logs", "temp", "certs"):
            (self.prefix / sub).mkdir()
        for name, data in self.files.items():
            write = write_private if name.endswith(".key") else write_public
            write(self.prefix / name, data)
        (self.prefix / "nginx.conf").write_text(self.config_text(port))

    def _wait_ready(self, timeout: float = 15.0) -> None:
        """nginx writes its pid file after it has bound its listening socket."""
        pid_file = self.prefix / "nginx.pid"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode(errors="replace")
                raise NginxError("nginx refused to start:\n" + (self.error_log() or err).strip())
            try:
                if int(pid_file.read_text().strip() or 0) == self.process.pid:
                    return
            except (FileNotFoundError, ValueError):
                pass
            time.sleep(0.02)
        raise NginxError(f"nginx did not start within {timeout:.0f} s")

    def stop(self) -> None:
        """SIGTERM (nginx's fast shutdown), wait, remove the prefix. Idempotent."""
        proc, self.process = self.process, None
        _RUNNING.discard(self)
        self.final_log = shut_down(proc, self.prefix, self.error_log, self.final_log)
        self.prefix = None
        self.port = None

    def __enter__(self) -> "HandWrittenNginx":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def error_log(self) -> str:
        if self.prefix is None:
            return self.final_log
        try:
            return (self.prefix / "logs" / "error.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_messages(self, *levels: str) -> list[str]:
        """The error log's messages (no timestamps or pids), optionally only some levels."""
        lines = parse_log(self.error_log())
        return [ln.message for ln in lines if not levels or ln.level in levels]


def advertised_ca_names(port: int, cafile: str, host: str = "127.0.0.1") -> list[str]:
    """What ``openssl s_client`` reports about the CertificateRequest's CA list.

    Either ``["No client certificate CA names sent"]`` or the heading
    ``Acceptable client certificate CA names`` followed by one distinguished name
    per line. Everything else s_client prints (session ids, times) is left out.
    """
    require_loopback(host)
    out = subprocess.run(
        ["openssl", "s_client", "-connect", f"{host}:{port}", "-servername", "localhost"]
        + ["-CAfile", cafile],
        input=b"",
        capture_output=True,
        timeout=30,
    ).stdout.decode(errors="replace")
    lines = out.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("No client certificate CA names sent"):
            return [line]
        if line.startswith("Acceptable client certificate CA names"):
            names = [line]
            for name in lines[i + 1 :]:
                if ":" in name and "=" not in name.split(":")[0]:
                    break  # the next heading ("Requested Signature Algorithms: ...")
                names.append(name)
            return names
    raise NginxError("openssl s_client printed no CertificateRequest section:\n" + out[-500:])


def stapled_ocsp(port: int, cafile: str, host: str = "127.0.0.1") -> str:
    """What a client finds stapled to the server's handshake (``openssl s_client -status``).

    ``"none"`` when the server sent no OCSP response, else the response status
    and the certificate status it vouches for, e.g. ``"successful (0x0), good"``.
    """
    require_loopback(host)
    out = subprocess.run(
        ["openssl", "s_client", "-connect", f"{host}:{port}", "-servername", "localhost"]
        + ["-status", "-CAfile", cafile],
        input=b"",
        capture_output=True,
        timeout=30,
    ).stdout.decode(errors="replace")
    if "OCSP response: no response sent" in out:
        return "none"
    fields = {}
    for line in out.splitlines():
        key, _, value = line.strip().partition(": ")
        if key in ("OCSP Response Status", "Cert Status") and key not in fields:
            fields[key] = value.strip()
    if "OCSP Response Status" not in fields:
        raise NginxError("openssl s_client printed no OCSP section:\n" + out[-500:])
    return f"{fields['OCSP Response Status']}, {fields.get('Cert Status', '?')}"
