"""OCSP for real: a responder in a background thread, a client query, and an OCSP checker.

Why OCSP as well as CRLs: a CRL grows with every revocation and is fetched whole;
OCSP asks about *one* certificate and gets a small signed answer ("good",
"revoked" or "unknown") valid until its nextUpdate. The price is a network call
on the verification path, which is why every OCSP client must decide what to do
when the responder does not answer: **hard-fail** (refuse; safe, but the
responder becomes a single point of failure) or **soft-fail** (let the
certificate through; available, but an attacker who can block the responder
defeats revocation). Browsers chose soft-fail, which is why short-lived
certificates exist.

The pieces, all real (``cryptography.x509.ocsp`` on the wire, plain HTTP on
127.0.0.1 as real OCSP is plain HTTP):

* :class:`OCSPResponder`: a small Flask app answering RFC 6960 POST and GET
  requests from the CA's :class:`~lab.revocation.Revocations`, signed by a
  *delegated* responder certificate (EKU OCSPSigning, see :func:`delegated_signer`),
  so the CA key never sits on the responder. It also serves the CRL at ``/crl``
  (a CRL Distribution Point).
* :func:`query`: one OCSP request, the response verified (signature, delegation,
  certificate id, nonce, freshness) before it is believed.
* :class:`OCSPChecker`: the revocation hook for :class:`lab.auth.CertificateAuth`,
  with hard/soft fail and a cache that keeps each answer until its nextUpdate.
"""

from __future__ import annotations

import base64
import datetime as _dt
import os
import threading
import traceback as _traceback
from dataclasses import dataclass
from typing import Callable, Iterable
from urllib.parse import unquote

import requests
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID
from flask import Flask, Response, request
from werkzeug.serving import WSGIRequestHandler, make_server

from lab.errors import LabError, ServerError
from lab.net import require_loopback
from lab.pki import CertificateAuthority, IssuedCertificate
from lab.revocation import FailurePolicy, Revocations, ocsp_urls, reason_name

OCSP_REQUEST = "application/ocsp-request"
OCSP_RESPONSE = "application/ocsp-response"

#: How long an answer is good for. Let's Encrypt answers are valid for days; a
#: short window here makes the cache lesson visible.
DEFAULT_RESPONSE_VALIDITY = _dt.timedelta(hours=1)


class OCSPUnavailable(LabError, ConnectionError):
    """No usable OCSP answer: responder down, malformed or unverifiable response."""


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)


def delegated_signer(
    ca: CertificateAuthority, name: str = "mTLS Lab OCSP Responder", days: float = 30
) -> IssuedCertificate:
    """A responder certificate the CA delegates OCSP signing to (RFC 6960 4.2.2.2).

    EKU OCSPSigning is what makes a client accept its signature on the CA's
    behalf; id-pkix-ocsp-nocheck tells clients not to ask whether the
    responder's own certificate is revoked (it is short-lived instead).
    """
    return ca.issue_client(
        name, eku=["OCSPSigning"], days=days, extra_extensions=[(x509.OCSPNoCheck(), False)]
    )


# ------------------------------------------------------------------ responder
@dataclass(frozen=True)
class Answer:
    """One request the responder answered, for its record."""

    serial: int | None
    status: str  # good, revoked, unknown, malformed


class _QuietHandler(WSGIRequestHandler):
    """werkzeug prints every request to stderr, which lands in a random notebook cell."""

    def log_request(self, *args, **kwargs):
        pass

    def log_error(self, *args, **kwargs):
        pass


class OCSPResponder:
    """An OCSP responder (and CRL distribution point) over plain HTTP on loopback.

    >>> with OCSPResponder(revocations) as responder:
    ...     print(responder.url)          # http://127.0.0.1:PORT/

    ``issued`` (certificates or serials) lists what the CA issued; a serial
    outside it is answered "unknown". Without it, any serial of this CA that is
    not revoked is "good", which is what CRL-backed responders do. Answers are
    valid for ``validity`` from ``clock()`` (a parameter so that tests can move time).
    """

    def __init__(
        self,
        revocations: Revocations,
        signer: IssuedCertificate | None = None,
        *,
        issued: Iterable[object] | None = None,
        validity: _dt.timedelta = DEFAULT_RESPONSE_VALIDITY,
        crl_validity: _dt.timedelta | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], _dt.datetime] | None = None,
    ):
        require_loopback(host)
        self.clock = clock or _now
        self.revocations = revocations
        self.ca = revocations.ca
        self.signer = signer or delegated_signer(self.ca)
        self.issued = (
            None
            if issued is None
            else {getattr(getattr(c, "cert", c), "serial_number", c) for c in issued}
        )
        self.validity = validity
        self.crl_validity = crl_validity
        self.host = host
        self.requested_port = port
        self.answers: list[Answer] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._server = None
        self._thread: threading.Thread | None = None
        self.app = self._create_app()

    # ------------------------------------------------------------- answering
    def status_of(self, serial: int) -> tuple[str, object]:
        """("good" | "revoked" | "unknown", the revocation entry or None) for a serial of our CA."""
        self.revocations.refresh()
        entry = self.revocations.status(serial)
        if entry is not None:
            return "revoked", entry
        if self.issued is not None and serial not in self.issued:
            return "unknown", None
        return "good", None

    def respond(self, der: bytes) -> bytes:
        """The DER OCSP response to a DER OCSP request."""
        try:
            req = ocsp.load_der_ocsp_request(der)
        except ValueError:
            self._record(Answer(None, "malformed"))
            return ocsp.OCSPResponseBuilder.build_unsuccessful(
                ocsp.OCSPResponseStatus.MALFORMED_REQUEST
            ).public_bytes(serialization.Encoding.DER)
        try:
            ours = (req.issuer_name_hash, req.issuer_key_hash) == _issuer_hashes(
                self.ca.cert, req.hash_algorithm
            )
        except (ValueError, TypeError):  # a hash algorithm OCSP does not allow
            ours = False
        status, entry = self.status_of(req.serial_number) if ours else ("unknown", None)
        self._record(Answer(req.serial_number, status))
        now = self.clock().replace(microsecond=0)
        builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
            issuer_name_hash=req.issuer_name_hash,
            issuer_key_hash=req.issuer_key_hash,
            serial_number=req.serial_number,
            algorithm=req.hash_algorithm,
            cert_status={
                "good": ocsp.OCSPCertStatus.GOOD,
                "revoked": ocsp.OCSPCertStatus.REVOKED,
                "unknown": ocsp.OCSPCertStatus.UNKNOWN,
            }[status],
            this_update=now,
            next_update=now + self.validity,
            revocation_time=entry.revoked_at if entry else None,
            revocation_reason=(
                entry.reason if entry and entry.reason != x509.ReasonFlags.unspecified else None
            ),
        )
        builder = builder.responder_id(
            ocsp.OCSPResponderEncoding.HASH, self.signer.cert
        ).certificates([self.signer.cert])
        for ext in req.extensions:
            if isinstance(ext.value, x509.OCSPNonce):  # echo the nonce: proves the answer is fresh
                builder = builder.add_extension(ext.value, critical=False)
        key = self.signer.key
        algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
        return builder.sign(key, algorithm).public_bytes(serialization.Encoding.DER)

    def _record(self, answer: Answer) -> None:
        with self._lock:
            self.answers.append(answer)

    def _create_app(self) -> Flask:
        app = Flask("lab-ocsp-responder")

        def answer(der: bytes) -> Response:
            try:
                body = self.respond(der)
            except Exception as exc:  # noqa: BLE001 - recorded, answered as internalError
                with self._lock:
                    self.errors.append(f"{type(exc).__name__}: {exc}\n{_traceback.format_exc()}")
                body = ocsp.OCSPResponseBuilder.build_unsuccessful(
                    ocsp.OCSPResponseStatus.INTERNAL_ERROR
                ).public_bytes(serialization.Encoding.DER)
            return Response(body, mimetype=OCSP_RESPONSE)

        @app.post("/")
        def post():
            return answer(request.get_data())

        @app.get("/crl")
        def crl():
            self.revocations.refresh()
            options = {"validity": self.crl_validity} if self.crl_validity else {}
            der = self.revocations.crl(**options).public_bytes(serialization.Encoding.DER)
            return Response(der, mimetype="application/pkix-crl")

        @app.get("/<path:encoded>")
        def get(encoded):
            try:
                der = base64.b64decode(unquote(encoded))
            except ValueError:
                der = b""
            return answer(der)

        return app

    # ------------------------------------------------------------- lifecycle
    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        if self._server is None:
            raise ServerError("the OCSP responder is not running; call start() or use `with`")
        return self._server.server_port

    @property
    def url(self) -> str:
        """What goes into the certificates' AIA extension."""
        return f"http://{self.host}:{self.port}/"

    @property
    def crl_url(self) -> str:
        """What goes into the certificates' CRL Distribution Points extension."""
        return f"http://{self.host}:{self.port}/crl"

    def start(self) -> "OCSPResponder":
        if self._server is not None:
            return self
        try:
            self._server = make_server(
                self.host,
                self.requested_port,
                self.app,
                threaded=True,
                request_handler=_QuietHandler,
            )
        except (OSError, SystemExit) as exc:
            raise ServerError(
                f"could not start the OCSP responder on {self.host}:{self.requested_port} "
                f"({exc}); choose another port (0 picks a free one)"
            ) from None
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            daemon=True,
            name="lab-ocsp-responder",
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop answering (idempotent). Clients then get "connection refused": the responder is down."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None

    def __enter__(self) -> "OCSPResponder":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<OCSPResponder {'at ' + self.url if self.running else 'stopped'}>"


def _issuer_hashes(issuer: x509.Certificate, algorithm) -> tuple[bytes, bytes]:
    """(issuerNameHash, issuerKeyHash) of RFC 6960 for ``issuer``, computed as a client would."""
    req = ocsp.OCSPRequestBuilder().add_certificate(issuer, issuer, algorithm).build()
    return req.issuer_name_hash, req.issuer_key_hash


# -------------------------------------------------------------------- client
@dataclass(frozen=True)
class OCSPResult:
    """A verified OCSP answer about one certificate."""

    status: str  # good, revoked, unknown
    reason: str | None
    revoked_at: _dt.datetime | None
    this_update: _dt.datetime
    next_update: _dt.datetime | None
    responder: str

    def __str__(self) -> str:
        return self.status + (f" ({self.reason})" if self.status == "revoked" else "")


def build_request(
    cert: x509.Certificate, issuer: x509.Certificate, nonce: bytes | None = None
) -> bytes:
    """The DER OCSP request for ``cert`` (SHA-1 certificate id, as every responder understands)."""
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1())
    if nonce:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def query(
    cert,
    issuer,
    url: str | None = None,
    *,
    timeout: float = 2.0,
    nonce: bool = True,
    clock: Callable[[], _dt.datetime] | None = None,
) -> OCSPResult:
    """Ask the OCSP responder about ``cert`` and verify the answer before believing it.

    ``url`` defaults to the certificate's AIA OCSP URL. Raises
    :class:`OCSPUnavailable` when there is no usable answer (responder down,
    error status, bad signature, wrong certificate, stale answer, nonce mismatch).
    """
    cert = getattr(cert, "cert", cert)
    issuer = getattr(issuer, "cert", issuer)
    url = url or next(iter(ocsp_urls(cert)), None)
    if not url:
        raise OCSPUnavailable(
            "the certificate names no OCSP responder (no AIA OCSP URL) and none was given"
        )
    sent_nonce = os.urandom(16) if nonce else None
    with requests.Session() as http:
        http.trust_env = (
            False  # loopback, plain HTTP: no proxies, no CA bundle from the environment
        )
        try:
            r = http.post(
                url,
                data=build_request(cert, issuer, sent_nonce),
                headers={"Content-Type": OCSP_REQUEST},
                timeout=timeout,
            )
        except requests.RequestException as exc:
            raise OCSPUnavailable(f"the OCSP responder did not answer ({_why(exc)})") from None
    if r.status_code != 200:
        raise OCSPUnavailable(f"the OCSP responder answered HTTP {r.status_code}")
    return parse_response(r.content, cert, issuer, sent_nonce, clock=clock)


def _why(exc: requests.RequestException) -> str:
    text = str(exc)
    if "Connection refused" in text or "Errno 111" in text:
        return "connection refused"
    if isinstance(exc, requests.Timeout):
        return "timed out"
    return type(exc).__name__


def parse_response(
    der: bytes,
    cert: x509.Certificate,
    issuer: x509.Certificate,
    nonce: bytes | None = None,
    *,
    clock=None,
) -> OCSPResult:
    """Verify a DER OCSP response about ``cert`` and return what it says."""
    try:
        resp = ocsp.load_der_ocsp_response(der)
    except ValueError:
        raise OCSPUnavailable("the OCSP answer is not a DER OCSP response") from None
    if resp.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise OCSPUnavailable(f"the OCSP responder answered {resp.response_status.name}")
    signer = _responder_certificate(resp, issuer)
    if not _signature_ok(
        signer.public_key(), resp.signature, resp.tbs_response_bytes, resp.signature_hash_algorithm
    ):
        raise OCSPUnavailable("the OCSP answer's signature does not verify")
    expected = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, resp.hash_algorithm).build()
    if (
        resp.serial_number != cert.serial_number
        or resp.issuer_key_hash != expected.issuer_key_hash
        or resp.issuer_name_hash != expected.issuer_name_hash
    ):
        raise OCSPUnavailable("the OCSP answer is about a different certificate")
    if nonce is not None:
        try:
            echoed = resp.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
        except x509.ExtensionNotFound:
            echoed = None
        if (
            echoed is not None and echoed != nonce
        ):  # absent is allowed (RFC 8954), different is a replay
            raise OCSPUnavailable("the OCSP answer carries another request's nonce (a replay?)")
    now = (clock or (lambda: _dt.datetime.now(_dt.timezone.utc)))()
    if resp.next_update_utc is not None and now >= resp.next_update_utc:
        raise OCSPUnavailable("the OCSP answer is stale (its nextUpdate has passed)")
    status = {
        ocsp.OCSPCertStatus.GOOD: "good",
        ocsp.OCSPCertStatus.REVOKED: "revoked",
        ocsp.OCSPCertStatus.UNKNOWN: "unknown",
    }[resp.certificate_status]
    return OCSPResult(
        status=status,
        reason=reason_name(resp.revocation_reason) if status == "revoked" else None,
        revoked_at=resp.revocation_time_utc if status == "revoked" else None,
        this_update=resp.this_update_utc,
        next_update=resp.next_update_utc,
        responder=signer.subject.rfc4514_string(),
    )


def _responder_certificate(resp: ocsp.OCSPResponse, issuer: x509.Certificate) -> x509.Certificate:
    """The certificate whose key signed the answer: the CA itself, or a responder it delegated to."""
    if not resp.certificates:
        return issuer  # signed by the CA directly
    signer = resp.certificates[0]
    if signer == issuer:
        return issuer
    try:
        signer.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        raise OCSPUnavailable(
            "the OCSP responder's certificate was not issued by the certificate's CA"
        ) from None
    try:
        ekus = signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        ekus = []
    if ExtendedKeyUsageOID.OCSP_SIGNING not in ekus:
        raise OCSPUnavailable(
            "the OCSP responder's certificate lacks EKU OCSPSigning: "
            "the CA did not delegate OCSP to it"
        )
    now = _dt.datetime.now(_dt.timezone.utc)
    if not signer.not_valid_before_utc <= now <= signer.not_valid_after_utc:
        raise OCSPUnavailable("the OCSP responder's certificate is expired or not yet valid")
    return signer


def _signature_ok(public_key, signature: bytes, data: bytes, algorithm) -> bool:
    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, data, ec.ECDSA(algorithm))
        elif isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, data, padding.PKCS1v15(), algorithm)
        elif isinstance(public_key, ed25519.Ed25519PublicKey):
            public_key.verify(signature, data)
        else:
            return False
    except InvalidSignature:
        return False
    return True


# ------------------------------------------------------------------- checker
class OCSPChecker(FailurePolicy):
    """A revocation hook for :class:`lab.auth.CertificateAuth` that asks an OCSP responder.

    ``checker(cert, chain)`` returns None when the responder says "good", else
    a one-line reason. The issuer is ``issuer=`` or the first certificate of
    ``chain``; the URL is ``url=`` or the certificate's AIA. Answers are cached
    per serial until their nextUpdate (so a revocation can go unnoticed that
    long: the price of caching). When no usable answer comes back,
    ``hard_fail=True`` refuses and ``hard_fail=False`` lets the certificate
    through; :attr:`last_note` says which happened.
    """

    #: what :class:`lab.auth.CertificateAuth` reports as its revocation_mode
    mode = "ocsp"

    def __init__(
        self,
        url: str | None = None,
        *,
        issuer=None,
        hard_fail: bool = True,
        timeout: float = 2.0,
        nonce: bool = True,
        clock: Callable[[], _dt.datetime] | None = None,
    ):
        self.url = url
        self.issuer = getattr(issuer, "cert", issuer)
        self.hard_fail = hard_fail
        self.timeout = timeout
        self.nonce = nonce
        self.clock = clock or (lambda: _dt.datetime.now(_dt.timezone.utc))
        self.queries = 0
        self.last_note = ""
        self._cache: dict[tuple, OCSPResult] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        mode = "hard-fail" if self.hard_fail else "soft-fail"
        return f"<OCSPChecker {mode}, {self.queries} query(ies), {len(self._cache)} cached>"

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    def status(self, cert: x509.Certificate, issuer: x509.Certificate) -> OCSPResult:
        """The cached answer while it is fresh, else a new query (may raise OCSPUnavailable)."""
        key = (issuer.subject.public_bytes(), cert.serial_number)
        with self._lock:
            cached = self._cache.get(key)
        # No nextUpdate means "newer information is always available": never cache that.
        if (
            cached is not None
            and cached.next_update is not None
            and self.clock() < cached.next_update
        ):
            return cached
        self.queries += 1
        result = query(
            cert, issuer, self.url, timeout=self.timeout, nonce=self.nonce, clock=self.clock
        )
        with self._lock:
            self._cache[key] = result
        return result

    def __call__(
        self, cert: x509.Certificate, chain: list[x509.Certificate] | None = None
    ) -> str | None:
        issuer = self.issuer or (chain[0] if chain else None)
        if issuer is None:
            return self._unavailable(
                "the issuer's certificate is needed to ask OCSP and none was given"
            )
        try:
            result = self.status(cert, issuer)
        except OCSPUnavailable as exc:
            return self._unavailable(str(exc))
        if result.status == "good":
            self.last_note = "OCSP says good"
            return None
        if result.status == "revoked":
            self.last_note = f"OCSP says revoked ({result.reason})"
            return f"certificate revoked ({result.reason}) according to OCSP"
        return self._unavailable("the OCSP responder does not know this certificate (unknown)")
