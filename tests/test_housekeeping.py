"""lab reset: stops lab processes, removes the generated PKI, keeps certs/README.md."""

from __future__ import annotations

import subprocess
import sys

from lab import housekeeping


def test_remove_pki_keeps_only_the_readme(tmp_path):
    (tmp_path / "README.md").write_text("keep me")
    (tmp_path / "rootCA.pem").write_text("x")
    (tmp_path / "nb01").mkdir()
    (tmp_path / "nb01" / "alice.key").write_text("x")
    assert housekeeping.remove_pki(tmp_path) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["README.md"]


def test_reset_command_without_yes_and_without_input_changes_nothing(tmp_path):
    (tmp_path / "rootCA.pem").write_text("x")
    proc = subprocess.run(
        [sys.executable, "-m", "lab", "reset", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 1
    assert "nothing changed" in proc.stdout
    assert (tmp_path / "rootCA.pem").exists()


def test_reset_stops_a_running_serve_process_and_removes_the_pki(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "lab", "pki", "init", "--dir", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    serve = subprocess.Popen(
        [sys.executable, "-m", "lab", "serve", "--certs", str(tmp_path), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert "mTLS demo API on" in serve.stdout.readline()
        assert any(pid == serve.pid for pid, _ in housekeeping.lab_processes())
        proc = subprocess.run(
            [sys.executable, "-m", "lab", "reset", "--dir", str(tmp_path), "--yes"],
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stderr
        assert serve.wait(timeout=10) == 0  # it stopped cleanly on SIGTERM
        assert [p.name for p in tmp_path.iterdir()] == []
        assert "stopped 1 lab process" in proc.stdout or "lab process(es)" in proc.stdout
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
