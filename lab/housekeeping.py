"""Put a learner's lab back to a clean state: stop what this checkout started, remove its files.

Why a module: in a workshop, "start again from scratch" must be one command that
cannot hit anything that is not this checkout's: not another learner's clone on
the same machine, not another project. So nothing is matched by name. Whatever
the lab starts (``serve``, ``ocsp``, ``serve --behind-nginx``, every nginx of
:mod:`lab.proxy`) writes a record in this checkout's state folder (``.lab-state/``
in the project, or ``$LAB_STATE_DIR``); folders that hold keys (nginx prefixes,
the OpenSSL guide's working folders, scenario folders) are recorded the same
way. :func:`reset` stops only recorded processes that are still the very process
recorded (same pid *and* same start time: a pid the system reused is left
alone), removes recorded folders, then deletes everything in ``certs/`` except
its README.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from lab.paths import ROOT, certs_dir


# ---------------------------------------------------------------- the state folder
def state_dir() -> Path:
    """This checkout's record of what it started: $LAB_STATE_DIR, else ``.lab-state/`` in the project."""
    env = os.environ.get("LAB_STATE_DIR")
    return Path(env) if env else ROOT / ".lab-state"


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


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        out = subprocess.run(
            ["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True
        )
        return out.stdout.strip()


def record_leftover(path: str | os.PathLike) -> None:
    """Note a folder this checkout made outside itself (it may hold keys): ``reset`` removes it."""
    path = Path(path).resolve()
    name = hashlib.sha256(str(path).encode()).hexdigest()[:16]
    try:
        (_folder("leftovers") / name).write_text(str(path))
    except OSError:  # a read-only install: nothing to record into
        pass


def forget_leftover(path: str | os.PathLike) -> None:
    """The folder was removed by whoever made it: drop its record."""
    name = hashlib.sha256(str(Path(path).resolve()).encode()).hexdigest()[:16]
    (state_dir() / "leftovers" / name).unlink(missing_ok=True)


def temporary_folder(name: str) -> Path:
    """A private folder (0700) for files that include private keys, inside this checkout.

    It lives under the state folder (``.lab-state/scratch/NAME-xxxx``), never in the
    system temp folder: a kernel that JupyterLab's "Shut Down" or nbval stops never runs
    ``atexit``, and a folder left in ``/tmp`` would keep its keys after the clone is
    deleted. Here ``reset`` and ``git clean -X`` reach it. It is still removed when this
    process exits normally (``atexit``; :func:`lab.cli.main` turns SIGTERM into an exit
    too), and recorded, so that ``lab reset`` removes it after a SIGKILL.
    """
    path = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=_folder("scratch")))
    record_leftover(path)
    atexit.register(remove_folder, path)
    return path


def remove_folder(path: str | os.PathLike) -> None:
    """Remove a folder :func:`temporary_folder` made (idempotent) and its record."""
    shutil.rmtree(path, ignore_errors=True)
    forget_leftover(path)


def remove_leftovers() -> int:
    """Remove every recorded folder that still exists; return how many."""
    removed = 0
    for record in sorted((state_dir() / "leftovers").glob("*")):
        path = Path(record.read_text().strip())
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
        record.unlink(missing_ok=True)
    return removed


# ---------------------------------------------------------------- stopping
def lab_processes() -> list[tuple[int, str]]:
    """(pid, command line) of the processes this checkout started that still run (never this one)."""
    return [(r["pid"], r["command"]) for r in recorded_processes()]


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
    """Signal the recorded process only if it is still that process (pid not reused)."""
    if start_time(record["pid"]) != record["start"]:
        return
    try:
        os.kill(record["pid"], sig)
    except ProcessLookupError:
        pass


def generated_files(directory: Path | None = None) -> list[Path]:
    d = Path(directory) if directory else certs_dir()
    if not d.is_dir():
        return []
    return sorted(p for p in d.iterdir() if p.name != "README.md")


def remove_pki(directory: Path | None = None) -> int:
    removed = 0
    for p in generated_files(directory):
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()
        removed += 1
    return removed


def reset(directory: Path | None = None) -> dict:
    """Stop everything this checkout started, remove its leftovers and the PKI; report what was done."""
    from lab import proxy
    from lab.tls import server

    in_process = len(server.running_servers())
    server.stop_all()
    nginx = proxy.stop_all()
    stopped = stop_processes()
    return {
        "servers": in_process,
        "processes": [r["command"] for r in stopped if r["kind"] != "nginx"],
        "nginx": nginx + sum(r["kind"] == "nginx" for r in stopped),
        "leftovers": remove_leftovers(),
        "files": remove_pki(directory),
    }
