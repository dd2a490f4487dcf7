"""lab reset: stops what this checkout started (and nothing else), removes only what the lab made."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from lab import housekeeping


def _decoys(folder):
    """Files and folders the lab did not make, beside whatever the test puts there."""
    (folder / "sub" / "deep").mkdir(parents=True)
    (folder / "sub" / "deep" / "notes.txt").write_text("mine")
    (folder / "thesis.docx").write_text("mine")
    (folder / "server.key.bak").write_text("mine")
    return {"sub", "thesis.docx", "server.key.bak"}


def test_reset_refuses_a_folder_that_is_not_a_lab_pki_and_touches_nothing(tmp_path, run_lab):
    decoys = _decoys(tmp_path)
    (tmp_path / "server.key").write_text("another project's key")
    run = run_lab("reset", "--dir", tmp_path, "--yes", env={"LAB_STATE_DIR": str(tmp_path / "s")})
    assert run.rc == 1 and not run.has_traceback, run
    assert run.stderr.count("\n") == 1 and "does not look like a lab PKI" in run.stderr
    assert {p.name for p in tmp_path.iterdir()} == decoys | {"server.key"}
    assert (tmp_path / "sub" / "deep" / "notes.txt").exists()


def test_reset_removes_only_what_the_lab_made_and_lists_it_before_asking(
    course_dir, unrelated_ca, run_lab
):
    decoys = _decoys(course_dir) | {"README.md", "foreign.crt"}
    (course_dir / "README.md").write_text("keep me")
    (course_dir / "foreign.crt").write_bytes(unrelated_ca.issue_client("x").cert_pem)
    state = {"LAB_STATE_DIR": str(course_dir.parent / "state")}
    assert run_lab("pki", "issue", "client", "alice", "--dir", course_dir, env=state).rc == 0
    assert run_lab("pki", "revoke", "alice", "--dir", course_dir, env=state).rc == 0
    made = {p.name for p in course_dir.iterdir()} - decoys
    assert {"alice.crt", "alice.key", "alice.pfx", "crl.pem", "crl.crlnumber"} <= made
    asked = run_lab("reset", "--dir", course_dir, env=state)  # no --yes, no input: nothing goes
    assert asked.rc == 1 and "nothing changed" in asked.stdout
    assert {line.rsplit("/", 1)[-1] for line in asked.stdout.splitlines()[:-1]} == made
    done = run_lab("reset", "--dir", course_dir, "--yes", env=state)
    assert done.rc == 0 and f"removed 0 folder(s) and {len(made)} file(s)" in done.stdout, done
    assert {p.name for p in course_dir.iterdir()} == decoys


def test_reset_removes_the_scratch_folders_of_its_checkout(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_STATE_DIR", str(tmp_path / "state"))
    folder = housekeeping.temporary_folder("nb99")
    (folder / "alice.key").write_text("secret")
    unrecorded = tmp_path / "state" / "scratch" / "made-by-hand"
    unrecorded.mkdir()
    assert housekeeping.reset(tmp_path / "certs")["leftovers"] == 2
    assert list((tmp_path / "state" / "scratch").iterdir()) == []


def _serve(pki, state):
    """``python -m lab serve`` of the checkout whose state folder is ``state``; waits for its banner."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "lab", "serve", "--dir", str(pki), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "LAB_STATE_DIR": str(state)},
    )
    assert "mTLS demo API on" in proc.stdout.readline(), proc.stderr.read()
    return proc


def _reset(pki, state):
    return subprocess.run(
        [sys.executable, "-m", "lab", "reset", "--dir", str(pki), "--yes"],
        capture_output=True,
        text=True,
        env={**os.environ, "LAB_STATE_DIR": str(state)},
        timeout=60,
    )


def test_reset_stops_only_the_serve_its_own_checkout_started_and_removes_its_pki(
    tmp_path, shared_course_dir
):
    # Two checkouts on one machine, each with its own state folder and PKI, each serving.
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    for checkout in (ours, theirs):
        shutil.copytree(shared_course_dir, checkout / "certs")
    serve_ours = _serve(ours / "certs", ours / ".lab-state")
    serve_theirs = _serve(theirs / "certs", theirs / ".lab-state")
    try:
        proc = _reset(ours / "certs", ours / ".lab-state")
        assert proc.returncode == 0, proc.stderr
        assert serve_ours.wait(timeout=10) == 0  # it stopped cleanly on SIGTERM
        assert "stopped 1 lab process(es)" in proc.stdout
        assert [p.name for p in (ours / "certs").iterdir()] == []  # all of it was the lab's
        assert serve_theirs.poll() is None, "reset stopped another checkout's server"
        assert (theirs / "certs" / "rootCA.pem").exists()
    finally:
        for serve in (serve_ours, serve_theirs):
            if serve.poll() is None:
                serve.terminate()
                serve.wait(timeout=10)
    assert serve_theirs.returncode == 0


def test_reset_leaves_a_process_alone_when_its_pid_now_names_another_process(tmp_path, monkeypatch):
    # A record whose pid was reused: same pid, other start time. reset must not signal it.
    monkeypatch.setenv("LAB_STATE_DIR", str(tmp_path / ".lab-state"))
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        housekeeping.record_process(sleeper.pid, kind="serve")
        record = tmp_path / ".lab-state" / "processes" / f"{sleeper.pid}.json"
        data = json.loads(record.read_text())
        record.write_text(json.dumps({**data, "start": "1"}))  # started long ago: not this one
        assert housekeeping.recorded_processes() == []
        assert housekeeping.stop_processes() == []
        assert sleeper.poll() is None
    finally:
        sleeper.kill()
        sleeper.wait()


def _lab_env(tmp_path):
    """The temp folder and state folder of a checkout, both inside ``tmp_path``."""
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return {**os.environ, "TMPDIR": str(tmp_path / "tmp"), "LAB_STATE_DIR": str(tmp_path / "state")}


def test_break_all_stopped_by_sigterm_leaves_no_folder_with_keys(tmp_path):
    env = _lab_env(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "lab", "break", "--all"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 120
        while not list((tmp_path / "state" / "scratch").glob("scenarios-*/*.key")):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not list((tmp_path / "state" / "scratch").glob("*")), "break left a folder with keys"
    assert not list((tmp_path / "tmp").glob("*")), "break wrote into the system temp folder"


#: A process that makes a scratch folder holding a key, as notebook 01's guide section does.
GUIDE = (
    "from lab import housekeeping; d = housekeeping.temporary_folder('guide'); "
    "(d / 'rootCA.key').write_text('key'); print(d, flush=True)"
)


def test_a_scratch_folder_with_keys_is_removed_at_exit(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", GUIDE], capture_output=True, text=True, env=_lab_env(tmp_path)
    )
    assert out.returncode == 0, out.stderr
    folder = Path(out.stdout.strip())
    assert folder.name.startswith("guide-") and folder.parent == tmp_path / "state" / "scratch"
    assert not Path(out.stdout.strip()).exists()


def test_reset_removes_the_folder_a_killed_process_left_and_only_its_own_checkouts(
    tmp_path, monkeypatch
):
    killed = GUIDE + "; import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    out = subprocess.run(
        [sys.executable, "-c", killed], capture_output=True, text=True, env=_lab_env(tmp_path)
    )
    assert out.returncode == -signal.SIGKILL
    folder = Path(out.stdout.strip())
    assert list(folder.glob("*.key")), "SIGKILL leaves the folder: nothing in-process can help"
    monkeypatch.setenv("LAB_STATE_DIR", str(tmp_path / "another-checkout"))
    assert housekeeping.reset(tmp_path / "certs")["leftovers"] == 0
    assert folder.exists()
    monkeypatch.setenv("LAB_STATE_DIR", str(tmp_path / "state"))
    assert housekeeping.reset(tmp_path / "certs")["leftovers"] == 1
    assert not folder.exists()
