"""Running the real nginx: :class:`Nginx`, the one launcher for every nginx the lab starts.

nginx is a course prerequisite, not a Python package: when it is missing, the learner gets
the exact install command (:data:`INSTALL_HINT`) instead of a ``FileNotFoundError``.

It runs the ``server { ... }`` body you write, adding only what nginx cannot start
without, because notebook 07 shows nginx's own defaults (a missing client certificate is
a plain ``400``) and what one directive changes; :class:`lab.proxy.NginxProxy` runs the
hardened configuration through the same launcher. "Ready" is the pid file nginx writes
after binding its sockets; stop is SIGTERM to the master (a fast shutdown), then the
prefix is removed. Anything that goes wrong surfaces nginx's own error log.

Where the prefixes live: in this checkout's state folder (``.lab-state/nginx/``, or
``$LAB_STATE_DIR/nginx/``), never in the system temp folder. A kernel that nbval or
JupyterLab's "Shut Down" stops never runs ``atexit``, and its nginx (a session of its own)
keeps running: its master is recorded like every process the lab starts
(:func:`lab.housekeeping.record_process`: pid and start time, so a reused pid is never
signalled), and ``reset`` stops it, then removes its prefix, which is where ``reset`` and
``git clean -X`` look.

Keys on disk only while nginx reads them: nginx loads ``ssl_certificate_key`` and
``proxy_ssl_certificate_key`` when it parses its configuration (paths without
variables; see the ssl module's docs), so once it listens every ``*.key`` in the
prefix is deleted. The prefix is 0700; the workers run as the current user (see
:func:`worker_user`), so they can read it and nobody else can.
"""

from __future__ import annotations

import atexit
import contextlib
import grp
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import jinja2

from lab.errors import LabError, ServerError
from lab.net import free_port, require_loopback
from lab.paths import state_dir
from lab.pki import write_private, write_public

#: What to do when nginx is missing; notebooks and tests print exactly this.
INSTALL_HINT = (
    "nginx is not installed (or not on PATH): install it with `sudo apt-get install nginx` "
    "(Debian/Ubuntu) or `brew install nginx` (macOS), then run this again"
)

#: Where packages put nginx when it is not on PATH (Debian's /usr/sbin, Homebrew's prefixes).
SEARCH_PATH = "/usr/sbin:/usr/local/sbin:/usr/local/bin:/opt/homebrew/bin:/opt/homebrew/sbin"


class NginxNotFoundError(LabError):
    """The nginx binary is not installed (the message says how to install it)."""


class NginxError(ServerError):
    """nginx refused the configuration or failed to start; the message carries its error log."""


def find_nginx() -> str:
    """The nginx binary: $LAB_NGINX, then PATH, then the sbin folders where packages put it."""
    env = os.environ.get("LAB_NGINX")
    if env and not (Path(env).is_file() and os.access(env, os.X_OK)):
        raise NginxNotFoundError(
            f"LAB_NGINX={env} is not an executable file; unset it, or {INSTALL_HINT}"
        )
    path = os.environ.get("PATH", "") + os.pathsep + SEARCH_PATH
    found = env or shutil.which("nginx", path=path)
    if not found:
        raise NginxNotFoundError(INSTALL_HINT)
    return found


#: The nginx.conf templates: nginx.conf.j2 (NginxProxy), handwritten.conf.j2 (Nginx).
TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("lab.proxy", "templates"),
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    undefined=jinja2.StrictUndefined,  # a misspelt name fails loudly, never renders as ""
    autoescape=False,  # nginx.conf, not HTML
)

PREFIX_STEM = "mtls-lab-nginx-"
_RUNNING: set["Nginx"] = set()  # add, discard and list() are each atomic: no lock needed


def runtime_dir() -> Path:
    """Where prefixes go: ``nginx/`` in this checkout's state folder (:func:`lab.paths.state_dir`)."""
    return state_dir() / "nginx"


def listen_address(host: str, port: int) -> str:
    """``host:port`` as nginx's ``listen`` reads it: an IPv6 address goes in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def worker_user() -> str | None:
    """``user NAME GROUP`` for the workers when root, so they can enter the 0700 prefix.

    nginx's master switches its workers to the ``user`` directive's account (``nobody`` by
    default) only when it runs as root; otherwise it ignores the directive with a warning.
    """
    if os.geteuid() != 0:
        return None
    try:
        return f"{pwd.getpwuid(os.getuid()).pw_name} {grp.getgrgid(os.getgid()).gr_name}"
    except KeyError:  # pragma: no cover - a uid without a passwd entry
        return None


#: An error-log line: level, then the message after the timestamp, pid and connection number.
_LOG_RE = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[(\w+)\] \d+#\d+: (?:\*\d+ )?(.*)$")


def tail(text: str, n: int = 15) -> str:
    """The last ``n`` non-blank lines: enough of a log to say why nginx failed."""
    return "\n".join([ln for ln in text.splitlines() if ln.strip()][-n:]) or "(empty error log)"


class Nginx:
    """nginx serving ``body`` (the directives inside ``server { }``) in a private prefix.

    >>> with Nginx(body, {"certs/server.crt": pem, "certs/server.key": key}) as nginx:
    ...     requests.get(nginx.url)

    ``files`` maps a path relative to the prefix to its bytes; ``*.key`` files are
    written 0600 and deleted once nginx has loaded them. Relative paths in ``body``
    resolve against the prefix, so ``ssl_certificate certs/server.crt;`` just works.
    ``port=0`` picks a free port (nginx itself cannot: it refuses ``listen ...:0``).
    """

    def __init__(self, body: str, files: dict, *, host="127.0.0.1", port=0):
        require_loopback(host)
        self.body, self.files, self.host = body, dict(files), host
        self.requested_port = port
        self.binary = find_nginx()
        self.prefix: Path | None = None
        self.process: subprocess.Popen | None = None
        self._port: int | None = None
        self.final_log = ""  # the log as it was at stop(), once the prefix is gone

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

    def config_text(self, port: int) -> str:
        """The whole ``nginx.conf`` nginx runs: the skeleton around your body."""
        listen = listen_address(self.host, port)
        return TEMPLATES.get_template("handwritten.conf.j2").render(
            user=worker_user(), listen=listen, body=self.body
        )

    def write_prefix(self, port: int) -> None:
        """A fresh 0700 prefix holding the files and ``nginx.conf`` for ``port``."""
        base = runtime_dir()
        base.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.prefix = Path(tempfile.mkdtemp(prefix=PREFIX_STEM, dir=base))
        for sub in ("logs", "temp", "certs"):
            (self.prefix / sub).mkdir()
        for name, data in self.files.items():
            (write_private if name.endswith(".key") else write_public)(self.prefix / name, data)
        (self.prefix / "nginx.conf").write_text(self.config_text(port))

    def start(self):
        """Write the prefix, start nginx, and return once it listens (no-op when running)."""
        # housekeeping imports this module (reset removes the prefixes), so not at the top
        from lab.housekeeping import record_process

        if self.running:
            return self
        last = ""
        for _ in range(1 if self.requested_port else 5):  # another process may take the port
            port = self.requested_port or free_port(self.host)
            self.write_prefix(port)
            with open(self.prefix / "logs" / "stderr.log", "wb") as log:
                self.process = subprocess.Popen(
                    [self.binary, "-p", f"{self.prefix}/", "-c", "nginx.conf"]
                    + ["-e", "logs/error.log", "-g", "daemon off;"],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            record_process(self.process.pid, kind="nginx")  # so reset stops it, even orphaned
            _RUNNING.add(self)
            try:
                self._wait_ready()
            except NginxError as exc:
                last = str(exc)
                self.stop()
                if "Address already in use" not in last:
                    raise
                if self.requested_port:
                    raise ServerError(
                        f"port {port} on {self.host} is already in use; stop the other "
                        f"server or choose another port (0 picks a free one)"
                    ) from None
                continue
            self._port = port
            for key in self.prefix.rglob("*.key"):  # nginx holds them in memory now
                key.unlink()
            return self
        raise NginxError(last)

    def _wait_ready(self, timeout: float = 15.0) -> None:
        """nginx writes its pid file after binding its listening sockets: that is "ready"."""
        pid_file = self.prefix / "nginx.pid"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise NginxError(
                    f"nginx exited with status {self.process.returncode} while starting:\n"
                    + tail(self.error_log())
                )
            try:
                if int(pid_file.read_text().strip() or 0) == self.process.pid:
                    return
            except (FileNotFoundError, ValueError):
                pass
            time.sleep(0.02)
        raise NginxError(f"nginx did not start within {timeout:.0f} s:\n" + tail(self.error_log()))

    def stop(self) -> None:
        """Fast shutdown (SIGTERM: the master stops its workers), then remove the prefix."""
        from lab.housekeeping import forget_process  # see start()

        proc, self.process = self.process, None
        _RUNNING.discard(self)
        if proc is not None:
            proc.terminate()  # the master stops its workers
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):  # gone meanwhile
                    os.killpg(proc.pid, signal.SIGKILL)  # its own session: the workers too
                proc.wait()
            forget_process(proc.pid)
        if self.prefix is not None:
            self.final_log = self.error_log()
            shutil.rmtree(self.prefix, ignore_errors=True)
        self.prefix = self._port = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ----------------------------------------------------------------- logs
    def error_log(self) -> str:
        """nginx's error log (and what it printed on stderr), raw."""
        if self.prefix is None:
            return self.final_log
        parts = []
        for name in ("error.log", "stderr.log"):
            try:
                parts.append((self.prefix / "logs" / name).read_text(errors="replace"))
            except FileNotFoundError:
                pass
        return "".join(parts)

    def log_messages(self, *levels: str) -> list[str]:
        """The error log's messages without timestamp, pid and trailing context (stable to
        print), optionally only those of some levels."""
        return [
            m.group(2).split(", client: ", 1)[0]
            for m in map(_LOG_RE.match, self.error_log().splitlines())
            if m and (not levels or m.group(1) in levels)
        ]


def running_proxies() -> list[Nginx]:
    """Every nginx this process started and has not stopped."""
    return list(_RUNNING)


@atexit.register
def _stop_mine() -> None:
    """At exit, stop every nginx this process started (the prefix goes with it)."""
    for nginx in running_proxies():
        nginx.stop()
