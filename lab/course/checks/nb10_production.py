"""Self-checks for notebook 10: the final self-assessment quiz, and the hardened server's audit.

Each question is judged on its own: ✅ for a right answer, and for a wrong or
missing one a hint naming the notebook section that demonstrated it, never the
answer itself. The last line sums up, through :func:`lab.course.check.report`.
"""

from __future__ import annotations

import re
import ssl

from lab.course.check import hint, passed, report

#: question id, the right choice, and where the course showed it, one question a line.
_QUIZ = """
q1 b 02 · The mTLS server, section 4: which side of a refused handshake knows the reason under TLS 1.3?
q2 c 03 · The client, section 2: what the impostor captured from the verify=False client
q3 a 04 · Authorization, 'Thumbprint pinning versus SPKI pinning': which hash covers only the key?
q4 c 06 · Revocation, 'Trap 2: a stale CRL': what OpenSSL did with a CRL past its nextUpdate
q5 a 07 · Behind NGINX, section 4: which check refused the forged header even on a trusted address?
q6 c 08 · Rotation, section 5: the plan that never broke a client, and the wrong order, live
q7 a 09 · Performance, section 1: count what one Session costs the server
q8 b 10 · Production, section 2: the leaf outside the constraint, verified in-process and at the handshake
"""
QUIZ = {
    q: (choice, where)
    for q, choice, where in (line.split(maxsplit=2) for line in _QUIZ.strip().splitlines())
}
CHOICES = ("a", "b", "c")


def exercise_quiz(answers) -> bool:
    """Print one line per question (✅ or a hint), then the summary line; truthy when all are right."""
    if not isinstance(answers, dict):
        return hint('answers must be a dict such as {"q1": "a", "q2": "c", ...}')
    right = 0
    for qid, (expected, where) in QUIZ.items():
        given = str(answers.get(qid) or "").strip().lower()
        if given == expected:
            right += 1
            print(f"✅ {qid}")
        elif given in CHOICES:
            print(f"💡 {qid}: not this one; look again at {where}")
        else:
            print(f"   {qid}: answer with one of {', '.join(CHOICES)}")
    total = len(QUIZ)
    return report(
        right == total,
        f"{total}/{total}: you can run mTLS in production",
        f"{right}/{total} right; revisit the sections above and answer again",
    )


def exercise_audit(context, scan) -> bool:
    """Your turn, "Harden a server yourself": the learner's context and sslyze's report on it.

    ``scan`` is what the notebook's ``sslyze(port)`` returned (a ``CompletedProcess`` of the
    sslyze command). Passing needs sslyze's verdict "OK - Compliant", no CBC suite, and a
    context that still demands the client certificate (``CERT_REQUIRED``).
    """
    if not isinstance(context, ssl.SSLContext) or not isinstance(
        getattr(scan, "stdout", None), str
    ):
        return hint("pass the server's SSLContext and what sslyze(...) returned")
    if "SCAN RESULTS FOR" not in scan.stdout:
        return hint(
            "sslyze could not connect with the course client certificate: does the context "
            "load the server certificate and trust the course CA?"
        )
    cbc = re.findall(r"TLS_\w+_CBC_\w+", scan.stdout)
    if cbc:
        return hint(f"{cbc[0]} is still accepted: set_ciphers() with ECDHE + GCM/CHACHA20 only")
    if "OK - Compliant" not in scan.stdout:
        return hint("still not compliant: read the lines sslyze printed under the verdict")
    if context.verify_mode != ssl.CERT_REQUIRED:
        return hint(
            "compliant, but the server no longer demands a client certificate: keep "
            "verify_mode = ssl.CERT_REQUIRED"
        )
    return passed("compliant with Mozilla's intermediate profile, client certificate required")
