"""Notebook 05's exercise: diagnose three "mystery" failures with explain and doctor.

The mysteries are made live, every run: a curl line captured from a real refusal,
an exception raised by a real call, and a folder of real files with a fault in it.
The self-check compares categories and, when one is wrong, says which tool to
point at which mystery, never the answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lab import housekeeping
from lab.course.check import report


@dataclass
class Mysteries:
    curl_line: str  # mystery 1: what a colleague pasted from their terminal
    error: BaseException  # mystery 2: the exception your own code just raised
    folder: Path  # mystery 3: the files a deployment is about to use


#: The curl line of mystery 1, as curl 7.88 printed it against a lab server.
CURL_LINE = (
    "curl: (56) OpenSSL SSL_read: error:0A00045C:SSL routines::tlsv13 alert certificate required, "
    "errno 0"
)


def mysteries() -> Mysteries:
    """Build the three mysteries (a live call against a real server, real files in a temp folder)."""
    from lab.course.demo import create_app
    from lab.pki import CertificateAuthority
    from lab.tls import client
    from lab.tls.server import MTLSServer

    ca = CertificateAuthority.create("Mystery Root CA")
    error: BaseException | None = None
    stale = ca.issue_server("localhost", "127.0.0.1", expired=True)
    with MTLSServer(create_app(), certificate=stale, trust=ca) as s:
        try:
            client.session(ca.issue_client("you"), trust=ca).get(s.url + "/api/secure", timeout=10)
        except Exception as exc:  # noqa: BLE001 - the failure is the mystery
            error = exc
    if (
        error is None
    ):  # pragma: no cover - a verifying client never accepts an expired server certificate
        raise RuntimeError(
            "mystery 2 did not fail; the lab client should refuse an expired server certificate"
        )
    folder = housekeeping.temporary_folder("mystery")  # removed at exit, or by lab reset
    ca.write(folder / "rootCA")
    ca.issue_server("api.lab.test", mismatched_key=True).write(folder / "api-server")
    return Mysteries(CURL_LINE, error, folder)


_EXPECTED = {1: "no-client-certificate", 2: "expired", 3: "key-mismatch"}
_HOW = {
    1: "pass the curl line to explain()",
    2: "pass the exception itself to explain()",
    3: "run doctor.examine(directory=...) on the folder, then explain() its error finding",
}


def exercise_mysteries(answers: dict) -> bool:
    """``answers`` maps 1, 2, 3 to the category you found for each mystery."""
    answers = answers or {}
    wrong = [n for n in (1, 2, 3) if answers.get(n) != _EXPECTED[n]]
    if not wrong:
        return report(
            True,
            "all three diagnosed: a missing client certificate, an expired server certificate, "
            "and a key that belongs to another certificate",
            "",
        )
    n = wrong[0]
    given = answers.get(n)
    hint = (
        f"mystery {n} has no answer yet: {_HOW[n]}"
        if given is None
        else f"mystery {n} is not {given!r}: {_HOW[n]} and use its .category"
    )
    return report(False, "", hint)
