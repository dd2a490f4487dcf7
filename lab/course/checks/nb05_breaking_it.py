"""Notebook 05's exercise: diagnose three "mystery" failures by reading them, then check with explain.

The mysteries are made live, every run: a curl line as curl printed it against a lab server,
an exception raised by a real call, and a folder of real files with a fault in it. The
learner names each one's category from :data:`CATEGORIES` *without* calling
``diagnose.explain``; the self-check runs ``explain`` on the same evidence and compares. A
wrong or missing answer gets a hint that says where to look, never the answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lab import housekeeping
from lab.course.check import CheckResult, hint, passed, try_calls
from lab.course.demo import create_app
from lab.course.diagnose import explain
from lab.ops.doctor import examine
from lab.pki import CertificateAuthority
from lab.tls.server import MTLSServer

#: The curl line of mystery 1, as curl 7.88 printed it against a lab server.
CURL_LINE = (
    "curl: (56) OpenSSL SSL_read: error:0A00045C:SSL routines::tlsv13 alert certificate required, "
    "errno 0"
)

#: The categories to choose from (the names ``diagnose.explain`` uses), with decoys.
CATEGORIES = tuple(
    "no-client-certificate untrusted-ca unknown-issuer expired not-yet-valid hostname-mismatch "
    "wrong-purpose key-mismatch protocol-version forbidden".split()
)

HINTS = {
    1: "the words after 'SSL routines::' are an alert, so the server is talking: read what it "
    "says it required, and which piece the client never sent",
    2: "print(said(m.error)) and read the words after 'certificate verify failed:'; this side "
    "refused the server's certificate: what is wrong with it?",
    3: "run doctor.examine(directory=m.folder) and read its ERROR line: which file does not "
    "belong with which?",
}


@dataclass
class Mysteries:
    curl_line: str  # mystery 1: what a colleague pasted from their terminal
    error: BaseException  # mystery 2: the exception your own code just raised
    folder: Path  # mystery 3: the files a deployment is about to use
    categories: tuple = CATEGORIES


def mysteries() -> Mysteries:
    """Build the three mysteries (a live call against a real server, real files)."""
    ca = CertificateAuthority.create("Mystery Root CA")
    stale = ca.issue_server("localhost", "127.0.0.1", expired=True)
    [seen] = try_calls(
        MTLSServer(create_app(), certificate=stale, trust=ca), [ca.issue_client("you")], ca
    )
    folder = housekeeping.temporary_folder("mystery")  # under .lab-state/scratch; reset removes it
    ca.write(folder / "rootCA")
    ca.issue_server("api.lab.test", mismatched_key=True).write(folder / "api-server")
    return Mysteries(CURL_LINE, seen.client_error, folder)


def exercise_mysteries(answers: dict, m: Mysteries, *, label: str = "") -> CheckResult:
    """``answers`` maps 1, 2, 3 to the category you read for each mystery (one of CATEGORIES)."""
    if not isinstance(answers, dict):
        return hint("answers must be a dict: {1: 'category', 2: ..., 3: ...}", label)
    errors = examine(directory=m.folder).errors
    evidence = {1: m.curl_line, 2: m.error, 3: errors[0].message if errors else ""}
    for n, where in HINTS.items():
        given = answers.get(n)
        if given not in CATEGORIES:
            return hint(f"mystery {n} needs one of m.categories: {where}", label)
        if given != explain(evidence[n]).category:
            return hint(f"mystery {n} is not {given!r}: {where}", label)
    return passed("all three match what explain() says, and you read them without it", label)
