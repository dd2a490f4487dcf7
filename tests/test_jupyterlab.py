"""The main job works: ``make lab`` starts JupyterLab, which serves notebook 00, and stops cleanly.

The test runs the real Makefile target (``make -s lab``) with the arguments a
headless run needs, in its own process group, so that stopping it stops make,
JupyterLab and anything they started, and the test can check that nothing is left.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = "notebooks/00_welcome.ipynb"
START_DEADLINE_S = 180  # a deadline for a hang, not a timing assertion (the machine is shared)
STOP_DEADLINE_S = 30


def free_loopback_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def live_members(pgid: int) -> list[str]:
    """Processes still in group ``pgid`` (zombies excluded: they have exited, only unreaped)."""
    members = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat_file.read_text()
        except OSError:
            continue
        # /proc/PID/stat: "pid (comm) state ppid pgrp ..."; comm may contain spaces.
        state, _ppid, pgrp = text.rsplit(")", 1)[1].split()[:3]
        if int(pgrp) == pgid and state != "Z":
            members.append(text.split(")", 1)[0] + ")")
    return members


def stop_group(proc: subprocess.Popen) -> list[str]:
    """SIGTERM the whole group (JupyterLab shuts down on it), SIGKILL what remains; return survivors."""
    pgid = proc.pid  # start_new_session=True: the group id is make's pid
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=STOP_DEADLINE_S)
    except subprocess.TimeoutExpired:
        pass
    deadline = time.monotonic() + STOP_DEADLINE_S
    while live_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.2)
    survivors = live_members(pgid)
    if survivors or proc.poll() is None:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)
    return survivors


def wait_for_contents(proc, url: str, params: dict, log_file: Path) -> requests.Response:
    deadline = time.monotonic() + START_DEADLINE_S
    with plain_http() as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(
                    f"make lab exited with {proc.returncode}:\n{log_file.read_text()[-3000:]}"
                )
            try:
                return http.get(url, params=params, timeout=10)
            except requests.ConnectionError:
                time.sleep(0.5)
    pytest.fail(
        f"JupyterLab did not answer within {START_DEADLINE_S} s:\n{log_file.read_text()[-3000:]}"
    )


class MakeLab:
    """``make -s lab`` running headless on a free loopback port, in its own process group."""

    def __init__(self, log_file: Path):
        self.port = free_loopback_port()
        self.token = secrets.token_hex(16)
        self.log_file = log_file
        lab_args = (
            f"--no-browser --ServerApp.port={self.port} --ServerApp.token={self.token} "
            f"--ServerApp.open_browser=False"
        )
        with open(log_file, "wb") as log:
            self.proc = subprocess.Popen(
                ["make", "-s", "lab", f"LAB_ARGS={lab_args}"],
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.survivors: list[str] | None = None

    @property
    def notebook_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/contents/{NOTEBOOK}"

    def wait_until_answering(self) -> requests.Response:
        return wait_for_contents(self.proc, self.notebook_url, {"token": self.token}, self.log_file)

    def stop(self) -> list[str]:
        """Stop the group once; return the processes that outlived SIGTERM (should be none)."""
        if self.survivors is None:
            self.survivors = stop_group(self.proc)
        return self.survivors


@pytest.fixture(scope="module")
def make_lab(tmp_path_factory):
    """One JupyterLab for the module (starting it is the slow part); always stopped at the end."""
    assert (ROOT / NOTEBOOK).is_file(), f"{NOTEBOOK} is missing"
    lab = MakeLab(tmp_path_factory.mktemp("make-lab") / "make-lab.log")
    try:
        lab.wait_until_answering()
        yield lab
    finally:
        lab.stop()


def plain_http() -> requests.Session:
    http = requests.Session()
    http.trust_env = False  # no proxies, no REQUESTS_CA_BUNDLE: plain http on loopback
    return http


def test_make_lab_serves_notebook_00_through_the_contents_api(make_lab):
    with plain_http() as http:
        response = http.get(make_lab.notebook_url, params={"token": make_lab.token}, timeout=30)
    assert response.status_code == 200, response.text[:500]
    model = response.json()
    assert (model["path"], model["type"], model["format"]) == (NOTEBOOK, "notebook", "json")
    on_disk = nbformat.read(ROOT / NOTEBOOK, as_version=4)
    served = nbformat.from_dict(model["content"])
    assert len(served.cells) > 0
    assert [c.source for c in served.cells] == [c.source for c in on_disk.cells]


def test_make_lab_refuses_the_contents_api_without_the_token(make_lab):
    """The token is what keeps other local users out of the learner's files."""
    with plain_http() as http:
        anonymous = http.get(make_lab.notebook_url, timeout=30)
    assert anonymous.status_code == 403
    assert "cells" not in anonymous.text


COURSE_SERVER_CONFIG = ROOT / "jupyter" / "jupyter_server_config.json"
# What jupyter_server itself makes of the config files it finds (JUPYTER_CONFIG_PATH included).
PROBE = (
    "import json; from jupyter_server.serverapp import ServerApp; app = ServerApp(); "
    "app.load_config_file(); print(json.dumps({k: dict(v) for k, v in app.config.items()}))"
)


def server_config(**env: str) -> dict:
    run = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.splitlines()[-1])


def test_make_lab_runs_jupyter_server_with_the_legacy_kernel_websocket_protocol(make_lab):
    """The course's server settings are where this environment's jupyter_server reads them.

    Without them, jupyter_server 2.21 can leave a kernel "starting" after Restart and Run All.
    """
    installed = Path(sys.prefix) / "etc" / "jupyter" / "jupyter_server_config.json"
    assert json.loads(installed.read_text()) == json.loads(COURSE_SERVER_CONFIG.read_text())
    assert server_config()["ZMQChannelsWebsocketConnection"] == {"kernel_ws_protocol": ""}


def test_binder_post_build_checks_the_image_and_installs_the_course_settings(tmp_path):
    """binder/postBuild, run as repo2docker runs it, into a throwaway NB_PYTHON_PREFIX that
    already holds a server setting of its own (which must survive)."""
    prefix = tmp_path / "prefix"
    config_dir = prefix / "etc" / "jupyter"
    config_dir.mkdir(parents=True)
    image_setting = {"ServerApp": {"shutdown_no_activity_timeout": 600}}
    (config_dir / "jupyter_server_config.json").write_text(json.dumps(image_setting))
    env = {
        **os.environ,
        "NB_PYTHON_PREFIX": str(prefix),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    run = subprocess.run(
        ["bash", str(ROOT / "binder" / "postBuild")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "imports" in run.stdout
    overrides = prefix / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    assert overrides.read_text() == (ROOT / "jupyter" / "overrides.json").read_text()
    seen = server_config(JUPYTER_CONFIG_PATH=str(config_dir))
    assert seen["ZMQChannelsWebsocketConnection"] == {"kernel_ws_protocol": ""}
    assert seen["ServerApp"]["shutdown_no_activity_timeout"] == 600


def test_stopping_make_lab_leaves_no_process_in_its_group(make_lab):
    """Runs last in this file: SIGTERM to the group ends make, JupyterLab and their children."""
    assert make_lab.stop() == []
    assert make_lab.proc.poll() is not None
    with pytest.raises(ProcessLookupError):
        os.killpg(make_lab.proc.pid, 0)
