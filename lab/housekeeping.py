"""Put a learner's lab back to a clean state: stop what the lab started, remove the generated PKI.

Why a module: in a workshop, "start again from scratch" must be one command that
cannot hit anything that is not the lab's. It stops lab servers in this process,
``python -m lab serve``/``ocsp`` processes of this user (matched on their command
line), and nginx instances that :mod:`lab.proxy` started (matched on their
prefix), then deletes everything in ``certs/`` except its README.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

from lab.paths import certs_dir

LAB_COMMANDS = ("serve", "ocsp")


def lab_processes() -> list[tuple[int, str]]:
    """(pid, command line) of this user's ``python -m lab serve|ocsp`` processes, never this one."""
    found = []
    me = os.getpid()
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            pid = int(entry.name)
            if pid == me or entry.stat().st_uid != os.getuid():
                continue
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue
        words = [a.decode(errors="replace") for a in argv if a]
        for i, word in enumerate(words[:-2]):
            if word == "-m" and words[i + 1] == "lab" and words[i + 2] in LAB_COMMANDS:
                found.append((pid, " ".join(words)))
                break
    return found


def stop_processes(timeout: float = 5.0) -> list[str]:
    """SIGTERM every lab process (they shut down cleanly on it), SIGKILL any that linger."""
    procs = lab_processes()
    for pid, _ in procs:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    for pid, _ in procs:
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            time.sleep(0.05)
        if Path(f"/proc/{pid}").exists():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    return [cmd for _, cmd in procs]


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
    """Stop everything the lab started and remove the generated PKI; report what was done."""
    from lab.tls import server

    in_process = len(server.running_servers())
    server.stop_all()
    try:
        from lab import proxy

        nginx = proxy.stop_all()
    except ImportError:  # pragma: no cover - proxy is part of the lab
        nginx = 0
    commands = stop_processes()
    return {
        "servers": in_process,
        "processes": commands,
        "nginx": nginx,
        "files": remove_pki(directory),
    }
