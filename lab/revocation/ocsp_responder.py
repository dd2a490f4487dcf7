"""An OCSP responder (and CRL distribution point) in a background thread, over plain HTTP.

A small Flask app answering RFC 6960 POST and GET requests from the CA's
:class:`~lab.revocation.Revocations`, signed by a *delegated* responder certificate
(EKU OCSPSigning, see :func:`delegated_signer`). It never signs with the CA's key:
answers carry the delegate's signature, and ``/crl`` serves the CRL file the CA
published (``pki revoke`` / ``pki crl`` sign it), byte for byte re-encoded as DER.
Plain HTTP on 127.0.0.1, as real OCSP is: the answers are signed, so they need no TLS.

It holds under misuse: a body over :data:`MAX_REQUEST_BYTES` is refused (413) before
it is read, a client that stalls mid-request is dropped after ``read_timeout``
seconds, and a nonce outside RFC 9654's 1..128 octets is ``malformedRequest``. It runs
on the lab's own server (:class:`lab.tls.server.MTLSServer` with ``tls=False``): the same
worker pool, loopback-only binding and clean stop as every other lab server.
"""

from __future__ import annotations

import base64
import datetime as _dt
from dataclasses import dataclass
from urllib.parse import unquote

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp
from flask import Flask, Response, request

from lab.errors import LabError
from lab.pki import CertificateAuthority, IssuedCertificate
from lab.pki.fields import utcnow
from lab.pki.keys import signature_hash
from lab.revocation.crl import Revocations, load_crls
from lab.tls.server import MTLSServer

OCSP_RESPONSE = "application/ocsp-response"

#: How long an answer is good for. Let's Encrypt answers were valid for days; a
#: short window here makes the cache lesson visible.
RESPONSE_VALIDITY = _dt.timedelta(hours=1)

#: A request about one certificate is about 100 bytes, 250 with a 128-octet nonce:
#: 4 KiB leaves room for extensions and refuses a flood before it is read.
MAX_REQUEST_BYTES = 4096

#: RFC 9654 §2.1: a nonce is 1 to 128 octets; a responder that supports the
#: extension answers anything else with malformedRequest.
NONCE_OCTETS = range(1, 129)

#: RFC 5280 §4.1.2.2: a serial is a positive integer of at most 20 octets, so
#: nothing outside this range was ever issued by a conforming CA.
SERIALS = range(1, 2**159)


def delegated_signer(ca: CertificateAuthority) -> IssuedCertificate:
    """A responder certificate the CA delegates OCSP signing to (RFC 6960 §4.2.2.2).

    EKU OCSPSigning is what makes a client accept its signature on the CA's
    behalf; id-pkix-ocsp-nocheck tells clients not to ask whether the
    responder's own certificate is revoked (it is short-lived instead).
    """
    nocheck = [(x509.OCSPNoCheck(), False)]
    return ca.issue_client("mTLS Lab OCSP Responder", eku=["OCSPSigning"], extra_extensions=nocheck)


@dataclass(frozen=True)
class Answer:
    """One request the responder answered, for its record."""

    serial: int | None
    status: str  # good, revoked, unknown, malformed
    detail: str = ""  # why a request was malformed


class MalformedOCSPRequest(LabError, ValueError):
    """A request the responder cannot answer; it answers ``malformedRequest`` (RFC 6960 §2.3)."""


def parse_request(der: bytes) -> ocsp.OCSPRequest:
    """Read a DER OCSP request whose every field is readable, or raise :class:`MalformedOCSPRequest`.

    RFC 6960 §4.1.1 lets one request ask about several certificates, but a response
    built with cryptography holds one answer, so such a request is refused as
    malformed rather than half answered: ask one certificate per request, as browsers
    and ``openssl ocsp -cert`` do. A nonce outside RFC 9654's 1..128 octets is
    refused too: echoing 60,000 bytes signed by the responder helps only an attacker.
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
        nonce = _nonce(req)
        # cryptography's builder checks the certificate id as an answer needs it: an OCSP
        # hash (SHA-1 or SHA-2) and hashes of that hash's size
        ocsp.OCSPRequestBuilder().add_certificate_by_hash(
            req.issuer_name_hash, req.issuer_key_hash, req.serial_number, req.hash_algorithm
        )
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise MalformedOCSPRequest(f"the request's certificate id is unusable ({exc})") from None
    if nonce is not None and len(nonce) not in NONCE_OCTETS:
        raise MalformedOCSPRequest(f"the nonce is {len(nonce)} octets; RFC 9654 allows 1 to 128")
    return req


def _nonce(req: ocsp.OCSPRequest) -> bytes | None:
    nonces = [e.value.nonce for e in req.extensions if isinstance(e.value, x509.OCSPNonce)]
    return nonces[0] if nonces else None


class OCSPResponder:
    """An OCSP responder (and CRL distribution point) over plain HTTP on loopback.

    >>> with OCSPResponder(revocations) as responder:
    ...     print(responder.url)          # http://127.0.0.1:PORT/

    ``issued`` lists what the CA issued (certificates or serials, or a callable
    returning them, asked again for every request so that new certificates count).
    A serial outside it is answered ``unknown``; so is a serial no conforming CA
    can issue (0, negative, over 20 octets), with or without ``issued``. Without
    it, any other serial that is not revoked is ``good``, as a responder that
    knows only the CRL answers.

    Why ``unknown`` and not ``revoked`` for a serial never issued: RFC 6960 §2.2
    allows either, but ``revoked`` requires the extended-revoked-definition
    extension (§4.4.8), a fake revocation time of 1970 and reason certificateHold;
    ``unknown`` says exactly what the responder knows, and a hard-failing client
    refuses it just the same.

    Answers are valid for :data:`RESPONSE_VALIDITY` from ``clock()`` (a parameter so that
    tests can move time).
    """

    def __init__(
        self,
        revocations: Revocations,
        signer: IssuedCertificate | None = None,
        *,
        issued=None,
        host: str = "127.0.0.1",
        port: int = 0,
        clock=None,
        read_timeout: float = 5.0,
    ):
        self.clock = clock or utcnow
        self.revocations = revocations
        self.ca_cert = revocations.ca.cert
        self.signer = signer or delegated_signer(revocations.ca)
        self.issued = issued
        self.answers: list[Answer] = []
        self.errors: list[str] = []  # list.append is atomic: the worker threads share both
        self.app = self._create_app()
        self.server = MTLSServer(
            self.app,
            tls=False,
            host=host,
            port=port,
            head_timeout=read_timeout,
            read_timeout=read_timeout,
            raise_errors=False,
        )

    # ------------------------------------------------------------- answering
    def _status_of(self, serial: int) -> tuple[str, object]:
        """("good" | "revoked" | "unknown", the revocation entry or None) for a serial of our CA."""
        self.revocations.refresh()
        entry = self.revocations.status(serial)
        if entry is not None:
            return "revoked", entry
        found = self.issued() if callable(self.issued) else self.issued
        issued = {getattr(getattr(c, "cert", c), "serial_number", c) for c in found or ()}
        if serial not in SERIALS or (found is not None and serial not in issued):
            return "unknown", None
        return "good", None

    def respond(self, der: bytes) -> bytes:
        """The DER OCSP response to a DER OCSP request (malformedRequest for what it cannot read)."""
        try:
            req = parse_request(der)
        except MalformedOCSPRequest as exc:
            self.answers.append(Answer(None, "malformed", str(exc)))
            return _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
        ours = (req.issuer_name_hash, req.issuer_key_hash) == issuer_hashes(
            self.ca_cert, req.hash_algorithm
        )
        status, entry = self._status_of(req.serial_number) if ours else ("unknown", None)
        self.answers.append(Answer(req.serial_number, status))
        now = self.clock().replace(microsecond=0)
        builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
            issuer_name_hash=req.issuer_name_hash,
            issuer_key_hash=req.issuer_key_hash,
            serial_number=req.serial_number,
            algorithm=req.hash_algorithm,
            cert_status=getattr(ocsp.OCSPCertStatus, status.upper()),
            this_update=now,
            next_update=now + RESPONSE_VALIDITY,
            revocation_time=entry.revoked_at if entry else None,
            revocation_reason=(
                entry.reason if entry and entry.reason != x509.ReasonFlags.unspecified else None
            ),
        )
        builder = builder.responder_id(
            ocsp.OCSPResponderEncoding.HASH, self.signer.cert
        ).certificates([self.signer.cert])
        if (nonce := _nonce(req)) is not None:  # echo the nonce: proves the answer is fresh
            builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
        signed = builder.sign(self.signer.key, signature_hash(self.signer.key))
        return signed.public_bytes(serialization.Encoding.DER)

    def _create_app(self) -> Flask:
        app = Flask("lab-ocsp-responder")
        app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES

        def answer(der: bytes) -> Response:
            try:
                body = self.respond(der)
            except Exception as exc:  # recorded, answered as internalError, never a 500
                self.errors.append(f"{type(exc).__name__}: {exc}")
                body = _unsuccessful(ocsp.OCSPResponseStatus.INTERNAL_ERROR)
            return Response(body, mimetype=OCSP_RESPONSE)

        @app.post("/")
        def post():  # a body cut short by read_timeout is werkzeug's 400, then closed
            return answer(request.get_data())

        @app.get("/crl")
        def crl():  # the CRL file the CA published, checked (only CRLs this CA signed), as DER
            path = self.revocations.path
            if path is None or not path.exists():
                return Response("no CRL published yet (python -m lab pki crl)\n", 404)
            try:
                der = load_crls(path, self.ca_cert)[0].public_bytes(serialization.Encoding.DER)
            except LabError as exc:  # a damaged crl.pem: say so, never a stack trace
                return Response(f"the published CRL is unusable: {exc}\n", 503)
            return Response(der, mimetype="application/pkix-crl")

        @app.get("/<path:encoded>")
        def get(encoded):
            try:
                der = base64.b64decode(unquote(encoded))  # cheroot leaves %2F encoded
            except ValueError:
                der = b""
            return answer(der)

        return app

    # ------------------------------------------------------------- lifecycle
    @property
    def running(self) -> bool:
        return self.server.running

    @property
    def url(self) -> str:
        """What goes into the certificates' AIA extension."""
        return f"http://{self.server.host}:{self.server.port}/"

    @property
    def crl_url(self) -> str:
        """What goes into the certificates' CRL Distribution Points extension."""
        return self.url + "crl"

    def start(self) -> "OCSPResponder":
        self.server.start()  # a busy port is the server's one-line ServerError
        return self

    def stop(self) -> None:
        """Stop answering (idempotent). Clients then get "connection refused": the responder is down."""
        self.server.stop()

    def __enter__(self) -> "OCSPResponder":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _unsuccessful(status: ocsp.OCSPResponseStatus) -> bytes:
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(
        serialization.Encoding.DER
    )


def issuer_hashes(issuer: x509.Certificate, algorithm) -> tuple[bytes, bytes]:
    """(issuerNameHash, issuerKeyHash) of RFC 6960 for ``issuer``, computed as a client would."""
    req = ocsp.OCSPRequestBuilder().add_certificate(issuer, issuer, algorithm).build()
    return req.issuer_name_hash, req.issuer_key_hash
