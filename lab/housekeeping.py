"""Put a learner's lab back to a clean state: stop what this checkout started, remove its files.

Why a module: in a workshop, "start again from scratch" must be one command that
cannot hit anything that is not this checkout's: not another learner's clone on
the same machine, not another project. So nothing is matched by name. Whatever
the lab starts (``serve``, ``ocsp``, ``serve --behind-nginx``, every nginx of
:mod:`lab.proxy`) writes a record in this checkout's state folder (``.lab-state/``
in the project, or ``$LAB_STATE_DIR``); folders that hold keys (nginx prefixes,
the OpenSSL guide's working folders, scenario folders) are made inside it.
:func:`reset` stops only recorded processes that are still the very process
recorded (same pid *and* same start time: a pid the system reused is left
alone), removes the scratch folders, then the files of the PKI folder that the
lab made (:func:`pki_files`); nothing else in it.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from lab.errors import LabError
from lab.paths import certs_dir, show, state_dir
from lab.pki import CERT_SUFFIXES, PASSWORD_FILE, load_certificate, load_certificates
from lab.pki.verify import signed_by
from lab.proxy.process import PREFIX_STEM, runtime_dir


# ---------------------------------------------------------------- the state folder
def _folder(kind: str) -> Path:
    d = state_dir() / kind
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    return d


def start_time(pid: int) -> str | None:
    """When ``pid`` started (the kernel's clock ticks since boot, or ``ps``'s lstart); None if gone.

    Together with the pid this names one process: a pid reused later has another start time.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]  # field 22, counted after "(comm)"
    except FileNotFoundError:
        return None
    except (OSError, IndexError):  # no /proc (macOS): ask ps
        out = subprocess.run(
            ["ps", "-o", "lstart=", "-p", str(pid)], capture_output=True, text=True
        )
        return out.stdout.strip() or None


def record_process(pid: int | None = None, *, kind: str) -> None:
    """Note that this checkout started ``pid`` (default: this process), so ``reset`` may stop it."""
    pid = pid or os.getpid()
    started = start_time(pid)
    if started is None:
        return
    record = {"pid": pid, "start": started, "kind": kind, "command": _command_line(pid)}
    try:
        (_folder("processes") / f"{pid}.json").write_text(json.dumps(record))
    except OSError:  # a read-only install: nothing to record into, reset cannot see it
        pass


def _command_line(pid: int) -> str:
    """The process's command line, for reset's list (``ps`` where there is no /proc)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        out = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True)
        return out.stdout.decode(errors="replace").strip()


def forget_process(pid: int | None = None) -> None:
    """The process has stopped by itself: drop its record."""
    (state_dir() / "processes" / f"{pid or os.getpid()}.json").unlink(missing_ok=True)


def recorded_processes() -> list[dict]:
    """The recorded processes that still run; records of processes gone (or pids reused) are dropped."""
    alive = []
    for path in sorted((state_dir() / "processes").glob("*.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            path.unlink(missing_ok=True)
            continue
        if record.get("pid") != os.getpid() and start_time(record["pid"]) == record["start"]:
            alive.append(record)
        elif record.get("pid") != os.getpid():
            path.unlink(missing_ok=True)
    return alive


def temporary_folder(name: str) -> Path:
    """A private folder (0700) for files that include private keys, inside this checkout.

    It lives under the state folder (``.lab-state/scratch/NAME-xxxx``), never in the
    system temp folder: a kernel that JupyterLab's "Shut Down" or nbval stops never runs
    ``atexit``, and a folder left in ``/tmp`` would keep its keys after the clone is
    deleted. Here ``reset`` and ``git clean -X`` reach it, also after a SIGKILL. It is still
    removed when this process exits normally (``atexit``; :func:`lab.cli.main` turns SIGTERM
    into an exit too).
    """
    path = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=_folder("scratch")))
    atexit.register(remove_folder, path)
    return path


def remove_folder(path: str | os.PathLike) -> None:
    """Remove a folder :func:`temporary_folder` made (idempotent)."""
    shutil.rmtree(path, ignore_errors=True)


def recorded_folders() -> list[Path]:
    """The scratch folders of this checkout (:func:`temporary_folder`) that still exist."""
    scratch = state_dir() / "scratch"
    folders = scratch.iterdir() if scratch.is_dir() else ()
    return sorted(p for p in folders if p.is_dir() and not p.is_symlink())


# ---------------------------------------------------------------- stopping
def stop_processes(timeout: float = 5.0) -> list[dict]:
    """SIGTERM every recorded process (they shut down cleanly on it), SIGKILL any that linger."""
    records = recorded_processes()
    for r in records:
        _signal(r, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for r in records:
        while time.monotonic() < deadline and start_time(r["pid"]) == r["start"]:
            time.sleep(0.05)
        _signal(r, signal.SIGKILL)
        forget_process(r["pid"])
    return records


def _signal(record: dict, sig: int) -> None:
    """Signal the recorded process only if it is still that process (pid not reused).

    An nginx master leads a session of its own (:class:`lab.proxy.Nginx`): its whole group
    is signalled, so no worker outlives it.
    """
    if start_time(record["pid"]) != record["start"]:
        return
    try:
        (os.killpg if record.get("kind") == "nginx" else os.kill)(record["pid"], sig)
    except ProcessLookupError:
        pass


#: What ``pki init`` and ``pki revoke`` write by name, besides the certificates the CA signed.
PKI_NAMES = ("rootCA.pem", "rootCA.key", PASSWORD_FILE, "crl.pem", "crl.crlnumber")


def pki_files(directory: Path | None = None) -> list[Path]:
    """The files of a lab PKI folder: the names above, and each certificate its CA signed
    (checked by signature) with the ``.key`` and ``.pfx`` of the same name.

    Anything else stays, whoever made it. A folder without the CA pair is refused with one
    line, unless it holds nothing but a README (a fresh clone's ``certs/``).
    """
    d = Path(directory) if directory else certs_dir()
    entries = sorted(p for p in d.iterdir() if p.name != "README.md") if d.is_dir() else []
    if not entries:
        return []
    if not ((d / "rootCA.pem").is_file() and (d / "rootCA.key").is_file()):
        raise LabError(
            f"{show(d)} does not look like a lab PKI (no rootCA.pem and rootCA.key); reset "
            f"removes only what `pki init` made, so it leaves this folder alone"
        )
    ca = load_certificate(d / "rootCA.pem")
    keep = {p.name for p in entries if p.name in PKI_NAMES and not p.is_dir()}
    for p in entries:
        if p.suffix.lower() in CERT_SUFFIXES and p.is_file() and _issued_by(p, ca):
            keep |= {n for n in (p.name, p.stem + ".key", p.stem + ".pfx") if (d / n).is_file()}
    return sorted(d / n for n in keep)


def _issued_by(path: Path, ca) -> bool:
    """Whether the first certificate of ``path`` is one ``ca`` signed; an unreadable file is not."""
    try:
        return signed_by(load_certificates(path)[0], ca)
    except LabError:
        return False


def reset(directory: Path | None = None) -> dict:
    """Stop what this checkout started, remove its scratch folders and its PKI's files.

    The PKI folder is checked first (:func:`pki_files`), so a folder that is not a lab PKI
    stops the reset before anything is touched. Servers inside a Python process stop with it
    (``atexit``); recorded processes are signalled here, nginx included (a kernel that nbval
    or "Shut Down" stopped never ran ``atexit`` and left its nginx running), and the nginx
    prefixes in this checkout's state folder are removed.
    """
    files = pki_files(directory)
    stopped = stop_processes()
    folders = recorded_folders()
    for folder in [*folders, *runtime_dir().glob(PREFIX_STEM + "*")]:
        shutil.rmtree(folder, ignore_errors=True)
    for path in files:
        path.unlink(missing_ok=True)
    return {
        "processes": [r["command"] for r in stopped if r["kind"] != "nginx"],
        "nginx": sum(r["kind"] == "nginx" for r in stopped),
        "leftovers": len(folders),
        "files": len(files),
    }
