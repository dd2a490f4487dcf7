"""Explain an mTLS error message: its category, the cause in plain words, and the fix.

Why: the errors people paste are layered (requests wraps urllib3, which wraps ssl, which
wraps an OpenSSL reason) or come from curl, and the useful words are buried:
``(Caused by SSLError(SSLError(1, '[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] ...`` means
"you sent no client certificate". :func:`explain` matches the text against the patterns
of ``_WORDS`` and takes the words from :data:`WORDS`, which the failure catalogue
(``python -m lab break``) uses too, so each failure is worded in one place.

Two rules keep it honest:

* **Direction.** ``certificate verify failed: X`` (curl: ``SSL certificate problem: X``)
  means *this* side refused the peer's certificate; ``alert X`` means the *peer* refused
  ours. The cause says which, because the fix is on a different machine.
* **No confident wrong answers.** Text that matches nothing is ``unknown``, with the raw
  text. A bare EOF or reset during a TLS 1.3 handshake is ambiguous by nature: it says so,
  and points at the server's record, where the real reason is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

UNKNOWN = "unknown"
DOCTOR = "`python -m lab doctor FILES` checks the certificates and keys involved"

#: category, pattern | cause | fix, one per line, in matching order: the first pattern that
#: matches (case-insensitive) wins, so the specific reasons come before the generic ones. The
#: causes leave the direction out: explain() adds it. The last eight are faults no pasted
#: error shows (no pattern: "-"), worded for ``python -m lab break``.
_WORDS = r"""
key-mismatch              KeyMismatchError|key values mismatch|does not belong to | the private key does not belong to the certificate it is paired with; OpenSSL refuses to load the pair, before any TLS byte is sent | point to the key made with this certificate, or reissue the pair; {doctor}
passphrase-required       PassphraseRequired|enter pem pass phrase|bad password read | the private key is encrypted and no passphrase was given (OpenSSL then prompts on the terminal, which hangs a service or a notebook) | pass the passphrase (curl --pass, a .pfx with its password); requests cannot pass one
wrong-password            WrongPassword|parse PKCS12|mac verify failure|invalid password|bad decrypt | the .pfx or encrypted key could not be decrypted with the password given | use the password the file was exported with (certs/pfx-password.txt), or re-export it
missing-file              MissingFileError|No such file or directory|does not exist; check the path | a certificate, key or CA file named in the configuration does not exist at that path | check the path (a relative path depends on the working directory)
unreadable-file           CorruptFileError|no start line|could not load PEM|unable to use client | a certificate or key file could not be parsed: the key given as the certificate or the reverse, DER or .pfx where PEM was expected, or a truncated copy | check which file goes where (--cert the certificate, --key the key); {doctor}
no-client-certificate     certificate required|peer did not return a certificate | the server requires a client certificate and the client sent none | give the client its certificate and key (requests cert=('client.crt', 'client.key'), curl --cert client.crt --key client.key)
protocol-version          protocol version|unsupported protocol|no protocols available | the two sides have no TLS version in common (a server that requires TLS 1.3 and a client limited to TLS 1.2) | allow TLS 1.2 and 1.3 on both sides, or upgrade the old end; never go below 1.2
tls-to-plain-http         wrong version number|packet length too long|record layer failure | the other end did not answer in TLS: most likely a plain-HTTP port (HTTPS not bound) | call the port that serves HTTPS, or bind HTTPS on this one (nginx: listen 443 ssl)
plain-http-to-tls         \bhttp request\b|plain HTTP request was sent to HTTPS port | plain HTTP was sent to a port that speaks TLS (http:// where https:// belongs) | use https:// for that port
hostname-mismatch         Hostname mismatch|IP address mismatch|no alternative certificate subj | the server certificate does not list the host the client dialled in its SAN, or has no SAN at all (requests, browsers and Go ignore the CN) | connect with a name the certificate lists, or reissue it with that name in the SAN; {doctor}
revoked                   certificate revoked | the certificate is on its CA's revocation list (or OCSP says revoked) | issue a new certificate, with a new key; a revoked certificate never comes back
untrusted-ca              self[- ]signed certificate in certificate chain|alert unknown ca | the certificate's chain ends in a root the verifying side does not trust (a missing CA, or an environment bundle such as REQUESTS_CA_BUNDLE in place of yours) | trust the CA that issued the certificate (verify=, curl --cacert, the server's client-CA file), or send the full chain; never switch verification off
self-signed               self[- ]signed certificate | the certificate signs itself and is not one of the trusted certificates | have it issued by your CA; trust a self-signed certificate only by pinning it on purpose
unknown-issuer            unable to get (?:local )?issuer certificate|unable to verify the first | the certificate could not be chained to a trusted root: its issuer is neither trusted nor sent (an unknown CA, or a missing intermediate) | trust the issuing CA, or send the intermediate with the certificate; {doctor}
expired                   certificate has expired|alert certificate expired | a certificate in the chain is past its notAfter date | renew the certificate, then watch the days left; {doctor}
not-yet-valid             certificate is not yet valid | a certificate's notBefore is in the future for the verifying side: clock skew | sync the clocks (NTP); backdate certificates by a few minutes, as CAs do
wrong-purpose             unsuitable certificate purpose|alert unsupported certificate | the certificate's Extended Key Usage does not allow this role (a client certificate needs clientAuth, a server certificate serverAuth) | reissue the certificate with the right extendedKeyUsage; {doctor}
certificate-refused       alert bad certificate|The SSL certificate error | the certificate was refused without a specific reason (a 'bad certificate' alert: a client refusing a host name, or nginx's 495 for a client certificate) | read the refusing side's log for the reason; {doctor}
crl-missing               unable to get certificate CRL | revocation is checked, but no CRL from the issuer of a certificate in the chain is loaded | load the current CRL of every issuing CA, or check the leaf only; never switch it off
crl-stale                 CRL has expired|CRL is not yet valid | the CRL is past its nextUpdate (or not valid yet): a stale CRL refuses every client | publish a fresh CRL before nextUpdate and reload it; watch it as you watch expiry
certificate-verify-failed certificate verify failed | the certificate failed verification for a reason not in this table (the words after 'certificate verify failed:' are OpenSSL's) | {doctor}; `openssl verify -CAfile ca.pem cert.pem` shows the same reason
connection-refused        Connection refused|Couldn't connect to server|Failed to connect to | nothing is listening on that host and port (server down, or another port or address) | check that the server runs and the URL's port is the one it listens on
closed-by-peer            EOF occurred|unexpected eof|Connection (?:reset|aborted)|RemoteDisconnected|getpeername\(\) failed|Empty reply from server|closed the connection | the other end closed the connection without saying why. Under TLS 1.3 this is often a refused client certificate (the alert lost a race with the close); it is also what plain HTTP sent to a TLS port looks like. The client cannot tell which | read the server's record or log: it has the real reason
forbidden                 \b403\b|Forbidden | the TLS handshake succeeded; the application refused the authenticated caller | grant the caller in the app's policy, or use the certificate that is allowed
incomplete-chain          - | a certificate was sent without the intermediate that links it to the root the other side trusts (browsers may fetch a missing intermediate; OpenSSL, requests and curl do not) | send the chain: leaf then intermediate, in the .crt, the .pfx or nginx's ssl_certificate
wrong-trust-store         - | with REQUESTS_CA_BUNDLE (or CURL_CA_BUNDLE) set, requests replaces Session.verify by the environment's bundle on every request (requests issue #3829); that bundle lacks your CA | pass verify= on each request, or set session.trust_env = False
no-server-verification    - | verify=False accepts any certificate: a server with a certificate from any CA received the bearer token and the payment, while a verifying client refused the same server | never disable verification: trust your CA explicitly (verify='rootCA.pem', curl --cacert)
issuer-name-check         - | the TLS layer trusts both CAs, and the callback's other test is a substring of the issuer's name: 'CN=NotYourRootCA,O=Partner Team' contains 'YourRootCA'. A name is a label anyone picks | compare the issuer's key (cert.verify_directly_issued_by(ca), CertificateAuth(trust=ca); in .NET a custom root trust or a pinned CA thumbprint)
ca-as-leaf                - | OpenSSL ACCEPTED the handshake: the root is its own trust anchor, has no EKU, and its Key Usage includes digitalSignature; only the application's own check refused it | authenticate in the app too, refuse CA:TRUE client certificates, keep CA keys off clients
missing-authorization     - | the server only asks for a certificate (mode optional) and this view checks nothing, so an anonymous caller got the data: a missing [Authorize] causes this, not a 403 | protect every view (@authorize, [Authorize]) and require the certificate at the TLS layer
client-cert-not-requested - | the server does not request a client certificate (Kestrel NoCertificate, nginx without ssl_verify_client), so the client's certificate never leaves the client | ask for it at the TLS layer: mode='require', ssl_verify_client on
forged-header             - | the app believes the X-SSL-Client-Cert header from anyone; the caller had no certificate and no key, only alice's public certificate (certificates are not secrets), and the app answered as if alice had called. Re-validating the certificate cannot catch it: it is alice's real certificate | accept the header only from the proxy (CertificateForwarding with trusted_proxies), let nothing but the proxy reach the app, and have the proxy overwrite every certificate header
"""
_ROWS = {
    key: text.format(doctor=DOCTOR).split(" | ")
    for key, text in (line.split(maxsplit=1) for line in _WORDS.strip().splitlines())
}
WORDS: dict[str, tuple[str, str]] = {key: (cause, fix) for key, (_, cause, fix) in _ROWS.items()}
_COMPILED = [(re.compile(p, re.IGNORECASE), key) for key, (p, _, _) in _ROWS.items() if p != "-"]
_THEIRS = re.compile(r"\balert\b", re.IGNORECASE)  # an alert: the peer refused ours
_OURS = re.compile(r"certificate verify failed|certificate problem", re.IGNORECASE)


@dataclass(frozen=True)
class Diagnosis:
    """What an error means: a category (a stable keyword), the cause and the fix."""

    category: str
    cause: str
    fix: str


def explain(subject) -> Diagnosis:
    """Explain an exception or pasted error text; ``unknown`` (with the raw text) when no
    pattern fits."""
    if isinstance(subject, BaseException):  # str() of a requests error holds the whole chain
        subject = f"{type(subject).__name__}: {subject}"
    raw = str(subject).strip()
    for regex, category in _COMPILED:
        if regex.search(raw):
            cause, fix = WORDS[category]
            if _OURS.search(raw):
                cause = "this side refused the peer's certificate: " + cause
            elif _THEIRS.search(raw):
                cause = (
                    "the peer refused the certificate this side sent (its alert says why): " + cause
                )
            return Diagnosis(category, cause, fix)
    cause = f"not recognised; the raw error is: {raw or '(empty)'}"
    return Diagnosis(UNKNOWN, cause, f"search for the exact words; read the server's log; {DOCTOR}")


__all__ = ["DOCTOR", "Diagnosis", "UNKNOWN", "WORDS", "explain"]
