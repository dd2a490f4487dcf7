"""Explain an mTLS error message: what category it is, the cause in plain words, the fix.

Why: the errors people paste into a search box are layered (requests wraps
urllib3, which wraps ssl, which wraps an OpenSSL reason code) or come from curl,
and the useful words are buried: ``(Caused by SSLError(SSLError(1, '[SSL:
TLSV13_ALERT_CERTIFICATE_REQUIRED] ...`` means "you sent no client certificate".
:func:`explain` digs out those words and matches them against a table of known
OpenSSL reasons, alert names, Python verification messages and curl lines.

Two rules keep it honest:

* **Direction.** ``certificate verify failed: X`` means *this* side refused the
  peer's certificate; ``alert X`` means the *peer* refused ours. The causes say
  which, because the fix is on a different machine.
* **No confident wrong answers.** A message that matches nothing is reported as
  ``unknown`` with the raw text. A message that is ambiguous by nature (a bare
  EOF or reset during a TLS 1.3 handshake) says so and names the candidates, and
  points at the server's log, which is where the real reason is.
"""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass

from lab import errors as _errors

UNKNOWN = "unknown"


@dataclass(frozen=True)
class Diagnosis:
    """What an error means: a category (a stable keyword), the cause, the fix, and the raw text."""

    category: str
    cause: str
    fix: str
    raw: str = ""

    @property
    def known(self) -> bool:
        return self.category != UNKNOWN

    def __str__(self) -> str:
        return f"[{self.category}] {self.cause}\nfix: {self.fix}"

    __repr__ = __str__


@dataclass(frozen=True)
class _Rule:
    pattern: str
    category: str
    cause: str
    fix: str


CHECK_FILES = "`python -m lab doctor FILES` checks the certificates and keys involved"

#: Ordered: the first rule whose pattern matches (case-insensitive) wins, so the
#: specific reasons come before the generic ones (``self-signed certificate in
#: certificate chain`` before ``self-signed certificate``; any reason before EOF).
RULES: tuple[_Rule, ...] = (
    # -- the lab's own exceptions (their messages already say what to do)
    _Rule(
        r"KeyMismatchError|key values mismatch|KEY_VALUES_MISMATCH|does not belong to",
        "key-mismatch",
        "the private key does not belong to the certificate it is paired with (or the key file is "
        "unreadable); OpenSSL refuses to load the pair, before any connection",
        f"point to the key made with this certificate, or reissue the pair; {CHECK_FILES}",
    ),
    _Rule(
        r"PassphraseRequiredError|enter pem pass phrase|bad password read|is encrypted; give its passphrase",
        "passphrase-required",
        "the private key is encrypted and no passphrase was given (OpenSSL then prompts on the terminal, "
        "which hangs a service or a notebook)",
        "pass the passphrase (lab.tls.client.session(..., password=...), curl --pass), or use a .pfx with its password",
    ),
    _Rule(
        r"unable to set private key file",
        "key-unusable",
        "curl could not use the private key: it does not match the certificate, or it is encrypted and no "
        "passphrase was given (curl then printed 'Enter PEM pass phrase:' first), or it is not a key",
        f"give --pass for an encrypted key, or point --key to the certificate's own key; {CHECK_FILES}",
    ),
    _Rule(
        r"WrongPasswordError|could not parse PKCS12|mac verify failure|invalid password or pkcs12 data|"
        r"bad decrypt|wrong passphrase",
        "wrong-password",
        "the .pfx or encrypted key could not be decrypted with the password given",
        "use the password the file was exported with (the lab keeps it in certs/pfx-password.txt), or re-export it",
    ),
    _Rule(
        r"MissingFileError|No such file or directory|does not exist; check the path",
        "missing-file",
        "a certificate, key or CA file named in the configuration does not exist at that path",
        "check the path (relative paths depend on the working directory); create the files with "
        "`python -m lab pki init`",
    ),
    _Rule(
        r"CorruptFileError|no start line|could not load PEM client certificate|unable to use client certificate|"
        r"not a readable PEM|PEM lib",
        "unreadable-file",
        "a certificate or key file could not be parsed: wrong file (a key given as the certificate, "
        "or the reverse), wrong format (DER or .pfx where PEM was expected), or a truncated copy",
        f"check which file goes where (--cert is the certificate, --key the key); {CHECK_FILES}",
    ),
    _Rule(
        r"InsecureRequestRefused",
        "verify-disabled",
        "the code asked for verify=False, which would accept any server certificate; the lab refuses it",
        "trust the server's CA instead (session(identity, trust='rootCA.pem'))",
    ),
    # -- no client certificate
    _Rule(
        r"alert certificate required|CERTIFICATE_REQUIRED|peer did not return a certificate|"
        r"No required SSL certificate was sent",
        "no-client-certificate",
        "the server requires a client certificate and the client sent none",
        "give the client its certificate and key (lab.tls.client.session(('client.crt', 'client.key'), ...), "
        "curl --cert client.crt --key client.key)",
    ),
    # -- versions and protocol confusion
    _Rule(
        r"alert protocol version|unsupported protocol|no protocols available|no protocol version in common|"
        r"UNSUPPORTED_PROTOCOL|TLSV1_ALERT_PROTOCOL_VERSION|version too low",
        "protocol-version",
        "the two sides have no TLS version in common (for example a server that requires TLS 1.3 and a "
        "client limited to TLS 1.2)",
        "allow TLS 1.2 and 1.3 on both sides, or upgrade the old end",
    ),
    _Rule(
        r"wrong version number|WRONG_VERSION_NUMBER|packet length too long|record layer failure|received a TLS ClientHello",
        "tls-to-plain-http",
        "the other end did not answer in TLS: most likely a plain-HTTP port (HTTPS not bound there), "
        "or something other than the TLS server listens on it",
        "call the port that serves HTTPS, or bind HTTPS on this one (check the URL's scheme and port)",
    ),
    _Rule(
        r"\bhttp request\b(?! line)|spoke plain HTTP|HTTP_REQUEST|The plain HTTP request was sent to HTTPS port",
        "plain-http-to-tls",
        "plain HTTP was sent to a port that speaks TLS (http:// where https:// belongs)",
        "use https:// for that port",
    ),
    # -- the certificate refused, by which side and why
    _Rule(
        r"Hostname mismatch|doesn't match|no alternative certificate subject name matches|"
        r"IP address mismatch|not valid for '",
        "hostname-mismatch",
        "the server certificate does not list the host name the client connected to in its SAN (or has "
        "no SAN at all: modern clients ignore the CN)",
        f"connect with a name the certificate lists, or reissue it with that name in the SAN; {CHECK_FILES}",
    ),
    _Rule(
        r"certificate revoked|CERTIFICATE_REVOKED",
        "revoked",
        "the certificate is on its CA's revocation list (or OCSP says revoked)",
        "issue a new certificate (new key) for the holder; a revoked certificate never comes back",
    ),
    _Rule(
        r"self[- ]signed certificate in certificate chain",
        "untrusted-ca",
        "the peer sent a chain that ends in a root this side does not trust (its trust store lacks "
        "that CA; an environment bundle such as REQUESTS_CA_BUNDLE may have replaced yours)",
        "trust the CA that issued the peer's certificate (lab.tls.client.session(trust=...), curl --cacert, "
        "MTLSServer(trust=...)); never switch verification off",
    ),
    _Rule(
        r"self[- ]signed certificate",
        "self-signed",
        "the peer's certificate signs itself and is not one of the trusted certificates",
        "have it issued by your CA; trust a self-signed certificate only by pinning it on purpose",
    ),
    _Rule(
        r"unable to get local issuer certificate|unable to get issuer certificate|"
        r"unable to verify the first certificate",
        "unknown-issuer",
        "the peer's certificate could not be chained to a trusted root: its issuer is neither trusted "
        "here nor sent (an unknown CA, or a missing intermediate)",
        f"trust the issuing CA, or make the peer send its intermediate with its certificate; {CHECK_FILES}",
    ),
    _Rule(
        r"alert unknown ca|TLSV1_ALERT_UNKNOWN_CA",
        "untrusted-ca",
        "the peer refused the certificate this side sent: it does not trust its issuer (your CA is "
        "missing from the peer's trust store, or you did not send the intermediate)",
        "add your CA to the peer's trust store, or send the full chain (leaf + intermediates)",
    ),
    _Rule(
        r"certificate has expired|alert certificate expired|CERTIFICATE_EXPIRED",
        "expired",
        "a certificate in the chain is past its notAfter date (if the message is an alert, it is the "
        "certificate this side sent)",
        f"renew the certificate, then watch days left; {CHECK_FILES}",
    ),
    _Rule(
        r"certificate is not yet valid|CERTIFICATE_NOT_YET_VALID",
        "not-yet-valid",
        "a certificate's notBefore is in the future for the verifying side: clock skew, or issued 'from tomorrow'",
        "sync the clocks (NTP); issue certificates backdated by a few minutes",
    ),
    _Rule(
        r"unsuitable certificate purpose|unsupported certificate purpose|alert unsupported certificate|"
        r"INVALID_PURPOSE",
        "wrong-purpose",
        "the certificate's Extended Key Usage does not allow this role (a client certificate needs "
        "clientAuth, a server certificate serverAuth)",
        f"reissue the certificate with the right EKU; {CHECK_FILES}",
    ),
    _Rule(
        r"The SSL certificate error|alert bad certificate|BAD_CERTIFICATE",
        "certificate-refused",
        "the peer refused the certificate it received without giving a specific reason (a 'bad "
        "certificate' alert: a client refusing a host name, or an nginx 495 for a client certificate)",
        "read the refusing side's log for the reason; check the certificate with `python -m lab doctor`",
    ),
    _Rule(
        r"unable to get certificate CRL|UNABLE_TO_GET_CRL",
        "crl-missing",
        "this side checks revocation but holds no CRL from the issuer of a certificate in the chain "
        "(a chain check needs a CRL from every CA, the root's for the intermediate included)",
        "load the current CRL of every issuing CA, or check the leaf only (crl_check='leaf'); "
        "do not switch the check off to make the error go away",
    ),
    _Rule(
        r"CRL has expired|CRL is not yet valid|CRL_HAS_EXPIRED|CRL_NOT_YET_VALID",
        "crl-stale",
        "the CRL this side checks against is past its nextUpdate (or not valid yet): a stale CRL "
        "refuses every client, revoked or not",
        "publish a fresh CRL before nextUpdate and reload it, automatically; watch a CRL's nextUpdate "
        "as you watch a certificate's expiry",
    ),
    _Rule(
        r"path length constraint exceeded|PATH_LENGTH_EXCEEDED",
        "path-length",
        "a CA in the chain has a pathLen limit that forbids the CAs below it (pathLen 0 on an "
        "intermediate that issued another intermediate)",
        f"issue from a CA whose pathLen allows that depth, or shorten the chain; {CHECK_FILES}",
    ),
    _Rule(
        r"certificate verify failed",
        "certificate-verify-failed",
        "the peer's certificate failed verification for a reason not in the lab's table (the words after "
        "'certificate verify failed:' are OpenSSL's)",
        f"{CHECK_FILES}; `openssl verify -CAfile ca.pem cert.pem` shows the same reason",
    ),
    _Rule(
        r"alert handshake failure|SSLV3_ALERT_HANDSHAKE_FAILURE|no shared cipher|no suitable signature algorithm",
        "handshake-failure",
        "the peer aborted with a generic 'handshake failure': no common cipher, curve or signature "
        "algorithm, or (TLS 1.2, OpenSSL servers) a required client certificate that was not sent",
        "read the server's log for the reason; check that the client sends its certificate",
    ),
    # -- the connection itself
    _Rule(
        r"Connection refused|Couldn't connect to server|Failed to connect to|ECONNREFUSED",
        "connection-refused",
        "nothing is listening on that host and port (server down, wrong port, or bound to another address)",
        "check that the server runs and the URL's port is the one it listens on",
    ),
    _Rule(
        r"Name or service not known|Could not resolve host|getaddrinfo failed|nodename nor servname",
        "name-resolution",
        "the host name does not resolve",
        "check the host name (and /etc/hosts for lab names)",
    ),
    _Rule(
        r"timed out|timeout",
        "timeout",
        "the other end did not answer in time (firewall drop, overloaded server, or wrong address)",
        "check reachability and the port; a TLS server that never answers may be waiting for a ClientHello",
    ),
    _Rule(
        r"EOF occurred in violation of protocol|UNEXPECTED_EOF|unexpected eof|Connection reset by peer|"
        r"RemoteDisconnected|Connection aborted|getpeername\(\) failed|Empty reply from server|"
        r"closed the connection during the handshake|SSL_ERROR_SYSCALL",
        "closed-by-peer",
        "the other end closed the connection without saying why. Under TLS 1.3 this is often a refused "
        "client certificate (the alert raced the close); it is also what plain HTTP sent to a TLS port "
        "looks like. The client cannot tell which",
        "read the server's record or log: it has the real reason (lab: MTLSServer.handshake_failures)",
    ),
    # -- HTTP answers after a successful handshake
    _Rule(
        r"\b403\b|Forbidden",
        "forbidden",
        "the TLS handshake succeeded; the application refused the authenticated caller (authorization)",
        "grant the caller in the app's policy, or use the certificate that is allowed; read the 403's detail",
    ),
    _Rule(
        r"\b401\b|Unauthorized",
        "unauthorized",
        "the application wants credentials it did not get (with certificates, usually the certificate did "
        "not reach the app: a proxy that does not forward it)",
        "make sure the certificate reaches the app (TLS mode require, or the proxy's forwarding header)",
    ),
)

_COMPILED = [(re.compile(rule.pattern, re.IGNORECASE), rule) for rule in RULES]


def explain(subject) -> Diagnosis:
    """Explain an exception, a scenario result, an observation, an HTTP status or pasted error text."""
    from lab.course.observe import Observation
    from lab.course.scenarios import ScenarioResult

    if isinstance(subject, Diagnosis):
        return subject
    if isinstance(subject, ScenarioResult):
        return Diagnosis(subject.category, subject.cause, subject.fix, subject.client_saw)
    if isinstance(subject, Observation):
        return _explain_observation(subject)
    if isinstance(subject, int):
        return explain_text(f"HTTP {subject}")
    if isinstance(subject, BaseException):
        return explain_text(exception_text(subject))
    if hasattr(subject, "status_code") and hasattr(subject, "text"):  # a requests.Response
        return explain_text(f"HTTP {subject.status_code}: {subject.text[:200]}")
    return explain_text(str(subject))


def explain_text(text: str) -> Diagnosis:
    """Match ``text`` against :data:`RULES`; ``unknown`` (with the raw text) when nothing fits."""
    raw = text.strip()
    for regex, rule in _COMPILED:
        if regex.search(raw):
            return Diagnosis(rule.category, rule.cause, rule.fix, raw)
    return Diagnosis(
        UNKNOWN,
        f"not recognised by the lab's table; the raw error is: {raw or '(empty)'}",
        "search for the exact words; compare the server's log with the client's error; "
        + CHECK_FILES,
        raw,
    )


def exception_text(exc: BaseException) -> str:
    """All the words of an exception chain: requests -> urllib3 -> ssl, plus the lab's type names."""
    parts: list[str] = []
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        cur = stack.pop(0)
        if id(cur) in seen:
            continue
        seen.add(id(cur))
        if isinstance(cur, ssl.SSLCertVerificationError):
            parts.append(f"certificate verify failed: {cur.verify_message}")
        parts.append(f"{type(cur).__name__}: {cur}")
        if isinstance(cur, _errors.LabError):
            break  # the lab's message is complete; its __context__ is the noise it replaced
        for nxt in (
            getattr(cur, "reason", None),
            cur.__cause__,
            cur.__context__,
            *[a for a in getattr(cur, "args", ()) if isinstance(a, BaseException)],
        ):
            if isinstance(nxt, BaseException):
                stack.append(nxt)
    return " | ".join(parts)


def _explain_observation(obs) -> Diagnosis:
    """The server's record wins when it has a reason; otherwise the client's error or the status."""
    if obs.server_saw.startswith("handshake refused"):
        d = explain_text(obs.server_saw)
        if d.known and d.category != "closed-by-peer":
            return d
    if obs.client_error is not None:
        return explain(obs.client_error)
    if obs.status is not None and obs.status >= 400:
        return explain_text(f"HTTP {obs.status}: {obs.body[:200]}")
    return Diagnosis("ok", "no error: the call succeeded", "nothing to fix", obs.client_saw)


__all__ = ["Diagnosis", "RULES", "UNKNOWN", "explain", "explain_text", "exception_text"]
