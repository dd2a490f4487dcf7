"""docs/clients.md runs: each marked snippet gets Hello with the certificate, a refusal without.

The snippets are read from the page itself, so the page cannot drift from what works. A snippet
is the fenced block right after an HTML comment ``snippet: NAME`` (the page's header comment
says so). It is written for a learner in the project folder talking to ``python -m lab serve``
on its default port, so the test substitutes exactly two things:

* ``localhost:5001`` becomes the test server's ``localhost:PORT`` (port 0, bound to 127.0.0.1);
* ``certs/`` becomes this test's own PKI folder (``coursepki.init``, the guide's file set).

The refusal run deletes every line naming ``client.crt`` or ``client.key``, which is the whole
client certificate in each snippet. The client must then fail without printing Hello, and the
server must record a refused handshake: with TLS 1.3 the client may only see EOF or a reset, and
the server's own record is the truth.

The machine's environment is passed through unchanged (REQUESTS_CA_BUNDLE, SSL_CERT_FILE,
NODE_EXTRA_CA_CERTS are set on the lab machines), because the snippets must be right with it.
node and go are optional for learners: missing, they skip locally and fail under CI.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lab.course import coursepki
from lab.course.demo import create_app
from lab.tls.server import MTLSServer

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "clients.md"
HELLO = "Hello CN=MyTrustedClient,O=mTLS Lab"
SNIPPET = re.compile(r"^<!-- snippet: (\S+) -->\n```[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)
DEFAULT_HOST_PORT = "localhost:5001"
DEFAULT_CERTS = "certs/"
CLIENT_CERTIFICATE_LINE = re.compile(r"client\.(crt|key)\b")
RUN_NAMES = ["curl", "openssl", "requests", "httpx", "node", "go"]


def snippets() -> dict[str, str]:
    return dict(SNIPPET.findall(DOC.read_text()))


def without_client_certificate(source: str) -> str:
    return "".join(
        line
        for line in source.splitlines(keepends=True)
        if not CLIENT_CERTIFICATE_LINE.search(line)
    )


@dataclass
class LabServer:
    host_port: str
    certs: Path
    failures: list = field(default_factory=list)


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory):
    certs = tmp_path_factory.mktemp("clients-doc") / "certs"
    coursepki.init(certs)
    course = coursepki.load(certs)
    server = MTLSServer(
        create_app(),
        certificate=course.server,
        trust=course.ca,
        mode="require",
        host="127.0.0.1",
        port=0,
        raise_errors=False,
    )
    server.start()
    try:
        yield LabServer(f"localhost:{server.port}", certs, server.handshake_failures)
    finally:
        server.stop()


def tool(name: str, package: str) -> str:
    """The path of an optional tool; skip locally, fail under CI, when it is missing."""
    found = shutil.which(name)
    if found:
        return found
    message = f"{name} is not installed (apt-get install {package}; .ci/run does)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def command_for(name: str, source: str, workdir: Path) -> tuple[list[str], dict[str, str]]:
    """How to run one snippet, and the extra environment it needs."""
    if name in ("curl", "openssl"):
        tool(name, name)
        return ["bash", "-c", source], {}
    if name in ("requests", "httpx"):
        return [sys.executable, "-c", source], {}
    if name == "node":
        script = workdir / "client.js"
        script.write_text(source)
        return [tool("node", "nodejs"), str(script)], {}
    if name == "go":
        go = tool("go", "golang-go")
        script = workdir / "client.go"
        script.write_text(source)
        # Standard library only: a private build cache, and no module downloads at all.
        cache = workdir.parent / "go"
        return [go, "run", str(script)], {
            "GOCACHE": str(cache / "cache"),
            "GOPATH": str(cache / "path"),
            "GOFLAGS": "-mod=mod",
            "GOPROXY": "off",
            "GOTOOLCHAIN": "local",
        }
    raise AssertionError(f"no runner for snippet {name!r}")


def run_snippet(
    name: str, source: str, lab: LabServer, workdir: Path
) -> subprocess.CompletedProcess:
    source = source.replace(DEFAULT_HOST_PORT, lab.host_port).replace(
        DEFAULT_CERTS, f"{lab.certs}/"
    )
    workdir.mkdir(parents=True, exist_ok=True)
    argv, extra_env = command_for(name, source, workdir)
    env = {**os.environ, **extra_env}
    return subprocess.run(
        argv, check=False, cwd=workdir, env=env, capture_output=True, text=True, timeout=120
    )


def wait_for_failures(lab: LabServer, more_than: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while len(lab.failures) <= more_than and time.monotonic() < deadline:
        time.sleep(0.05)


def test_the_page_marks_every_client_it_promises_to_test():
    found = snippets()
    assert sorted(found) == sorted(RUN_NAMES)
    for name, source in found.items():
        assert DEFAULT_HOST_PORT in source, (
            f"{name}: no {DEFAULT_HOST_PORT} for the test to replace"
        )
        assert f"{DEFAULT_CERTS}rootCA.pem" in source, f"{name}: does not name the course CA"
        assert without_client_certificate(source) != source, (
            f"{name}: no line names client.crt/.key"
        )


@pytest.mark.parametrize("name", RUN_NAMES)
def test_snippet_gets_hello_with_the_certificate_and_a_refusal_without(name, lab_server, tmp_path):
    source = snippets()[name]

    before = len(lab_server.failures)
    accepted = run_snippet(name, source, lab_server, tmp_path / "with")
    assert accepted.returncode == 0, (
        f"{name} failed with the certificate:\n{accepted.stdout}\n{accepted.stderr}"
    )
    assert HELLO in accepted.stdout
    assert len(lab_server.failures) == before, [str(f) for f in lab_server.failures[before:]]

    refused = run_snippet(
        name, without_client_certificate(source), lab_server, tmp_path / "without"
    )
    output = refused.stdout + refused.stderr
    assert "Hello" not in refused.stdout, f"{name} was answered without a certificate:\n{output}"
    assert refused.returncode != 0, f"{name} exited 0 without a certificate:\n{output}"
    wait_for_failures(lab_server, before)
    assert len(lab_server.failures) > before, f"the server recorded no refused handshake for {name}"
    assert "certificate" in lab_server.failures[-1].reason, str(lab_server.failures[-1])
