"""An OCSP responder (and CRL distribution point) in a background thread, over plain HTTP.

A small Flask app answering RFC 6960 POST and GET requests from the CA's
:class:`~lab.revocation.Revocations`, signed by a *delegated* responder
certificate (EKU OCSPSigning, see :func:`delegated_signer`), so the CA key never
sits on the responder. It also serves the CRL at ``/crl``. Plain HTTP on
127.0.0.1, as real OCSP is: the answers are signed, so they need no TLS.
"""

from __future__ import annotations

import base64
import datetime as _dt
import threading
import traceback as _traceback
from dataclasses import dataclass
from typing import Callable, Iterable
from urllib.parse import unquote

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509 import ocsp
from flask import Flask, Response, request
from werkzeug.serving import WSGIRequestHandler, make_server

from lab.errors import LabError, ServerError
from lab.net import require_loopback
from lab.pki import CertificateAuthority, IssuedCertificate
from lab.pki.fields import utcnow
from lab.revocation.records import Revocations

OCSP_REQUEST = "application/ocsp-request"
OCSP_RESPONSE = "application/ocsp-response"

#: How long an answer is good for. Let's Encrypt answers are valid for days; a
#: short window here makes the cache lesson visible.
DEFAULT_RESPONSE_VALIDITY = _dt.timedelta(hours=1)


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
    detail: str = ""  # why a request was malformed


class MalformedOCSPRequest(LabError, ValueError):
    """A request the responder cannot answer; it answers ``malformedRequest`` (RFC 6960 2.3)."""


@dataclass(frozen=True)
class ParsedRequest:
    """What the responder needs from a request: the certificate id and the nonce."""

    serial: int
    issuer_name_hash: bytes
    issuer_key_hash: bytes
    algorithm: hashes.HashAlgorithm
    nonce: bytes | None


#: The certificate-id hashes a response can be built with (cryptography's OCSP builder).
CERT_ID_HASHES = (hashes.SHA1, hashes.SHA224, hashes.SHA256, hashes.SHA384, hashes.SHA512)


def parse_request(der: bytes) -> ParsedRequest:
    """Read a DER OCSP request, or raise :class:`MalformedOCSPRequest` saying why not.

    RFC 6960 4.1.1 lets one request ask about several certificates, but a response
    built with cryptography holds one answer ("Only one response per OCSPResponse"),
    so such a request is refused as malformed rather than half answered: ask one
    certificate per request, as browsers and ``openssl ocsp -cert`` do.
    """
    try:
        req = ocsp.load_der_ocsp_request(der)
    except NotImplementedError as exc:  # cryptography: "contains more than one request"
        raise MalformedOCSPRequest(
            f"the request is not answerable here ({exc}); ask about one certificate per request"
        ) from None
    except ValueError:
        raise MalformedOCSPRequest("the body is not a DER OCSP request") from None
    try:
        algorithm = req.hash_algorithm
        extensions = list(req.extensions)
        serial, name_hash, key_hash = req.serial_number, req.issuer_name_hash, req.issuer_key_hash
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise MalformedOCSPRequest(f"the request's certificate id is unreadable ({exc})") from None
    if not isinstance(algorithm, CERT_ID_HASHES):
        raise MalformedOCSPRequest(f"the certificate id uses {algorithm.name}, not an OCSP hash")
    if len(name_hash) != algorithm.digest_size or len(key_hash) != algorithm.digest_size:
        raise MalformedOCSPRequest(f"the certificate id's hashes are not {algorithm.name} hashes")
    nonces = [e.value.nonce for e in extensions if isinstance(e.value, x509.OCSPNonce)]
    return ParsedRequest(serial, name_hash, key_hash, algorithm, nonces[0] if nonces else None)


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
        self.clock = clock or utcnow
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
        """The DER OCSP response to a DER OCSP request (malformedRequest for what it cannot read)."""
        try:
            req = parse_request(der)
        except MalformedOCSPRequest as exc:
            self._record(Answer(None, "malformed", str(exc)))
            return ocsp.OCSPResponseBuilder.build_unsuccessful(
                ocsp.OCSPResponseStatus.MALFORMED_REQUEST
            ).public_bytes(serialization.Encoding.DER)
        ours = (req.issuer_name_hash, req.issuer_key_hash) == _issuer_hashes(
            self.ca.cert, req.algorithm
        )
        status, entry = self.status_of(req.serial) if ours else ("unknown", None)
        self._record(Answer(req.serial, status))
        now = self.clock().replace(microsecond=0)
        builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
            issuer_name_hash=req.issuer_name_hash,
            issuer_key_hash=req.issuer_key_hash,
            serial_number=req.serial,
            algorithm=req.algorithm,
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
        if req.nonce is not None:  # echo the nonce: proves the answer is fresh
            builder = builder.add_extension(x509.OCSPNonce(req.nonce), critical=False)
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
