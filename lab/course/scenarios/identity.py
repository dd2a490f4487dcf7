"""Identity: is this certificate the right one, for the right name, with the right key?

No client certificate at all, a server certificate whose name does not match (or
that has no SAN, like the ones the guide's openssl commands make), and the file
mistakes that stop a client before it ever connects: a key that belongs to
another certificate, a wrong .pfx password, an encrypted key without its
passphrase.
"""

from __future__ import annotations

import socket
import ssl

import requests

from lab.course import observe
from lab.course.scenarios._kit import (
    client_side_failure,
    demo_app,
    handshake_result,
    raw_error,
    server_view,
    shared_pki,
)
from lab.course.scenarios._model import ScenarioResult, scenario
from lab.errors import PassphraseRequiredError, WrongPasswordError
from lab.tls.client import session
from lab.tls.server import MTLSServer


@scenario("no-client-cert", "identity", "the client connects without a client certificate")
def no_client_cert() -> ScenarioResult:
    return handshake_result(
        "no-client-cert",
        identity=None,
        expect_server="peer did not return a certificate",
        category="no-client-certificate",
        cause="the server demanded a client certificate (mode require) and the client sent none; under "
        "TLS 1.3 the client learns it only after its own handshake finished, as an alert or an EOF",
        fix="configure the client with its certificate and key (session(('client.crt', 'client.key'), ...), "
        "curl --cert client.crt --key client.key)",
    )


def _python_default_accepts(port: int, ca_file: str) -> bool:
    """Does ``ssl.create_default_context()`` (Python's own defaults) accept the server's certificate?"""
    ctx = ssl.create_default_context(cafile=ca_file)
    pki = shared_pki()
    pki.alice.configure_cert(ctx)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost"):
                return True
    except ssl.SSLError:
        return False


@scenario(
    "server-cert-without-san",
    "identity",
    "the server certificate has no SAN, only CN=localhost (what the guide's openssl commands make)",
)
def server_cert_without_san() -> ScenarioResult:
    pki = shared_pki()
    app, record = demo_app()
    no_san = pki.root.issue_server("localhost", san=False)  # CN=localhost, no SubjectAltName
    plain = requests.Session()
    plain.trust_env = False
    plain.verify = str(pki.file("rootCA.pem"))
    plain.cert = (str(pki.file("alice.crt")), str(pki.file("alice.key")))
    with MTLSServer(app, certificate=no_san, trust=pki.root) as s:
        obs = observe.observe(s, lambda: plain.get(s.url + "/api/secure", timeout=10))
        server_saw = server_view(s, obs, record)
        python_default = _python_default_accepts(s.port, str(pki.file("rootCA.pem")))
    behaved = (
        "Hostname mismatch" in obs.client_saw
        and "alert bad certificate" in server_saw
        and python_default
    )
    return ScenarioResult(
        "server-cert-without-san",
        obs.client_saw,
        server_saw,
        obs.status,
        category="no-subject-alt-name",
        cause="the server certificate names its host only in the CN; requests (urllib3 2) matches host "
        "names against the SAN alone, as browsers do, so CN=localhost does not count",
        fix="reissue the server certificate with a SAN (openssl x509 -req ... -extfile with "
        "subjectAltName=DNS:localhost,IP:127.0.0.1; the lab's issue_server does it by default)",
        behaved=behaved,
        client_error=raw_error(obs.client_error),
        notes=[
            f"Python's ssl.create_default_context() {'ACCEPTED' if python_default else 'refused'} the "
            f"same certificate: it still falls back to the CN when there is no SAN "
            f"(SSLContext.hostname_checks_common_name defaults to True)"
        ],
    )


@scenario(
    "wrong-hostname", "identity", "the server certificate is valid, but for another host name"
)
def wrong_hostname() -> ScenarioResult:
    pki = shared_pki()
    return handshake_result(
        "wrong-hostname",
        identity=pki.alice,
        server_cert=pki.root.issue_server("api.example.test"),
        expect_server="alert bad certificate",
        expect_client="Hostname mismatch",
        category="hostname-mismatch",
        cause="the server certificate's SAN lists api.example.test, but the client connected to "
        "localhost; the chain is fine, the name is not",
        fix="connect with a name the certificate lists, or reissue the certificate with the name clients "
        "use in its SAN (every DNS name and IP address)",
    )


@scenario(
    "key-cert-mismatch", "identity", "the client's key file belongs to a different certificate"
)
def key_cert_mismatch() -> ScenarioResult:
    pki = shared_pki()
    app, record = demo_app()
    plain = requests.Session()
    plain.trust_env = False
    plain.verify = str(pki.file("rootCA.pem"))
    plain.cert = (
        str(pki.file("carol.crt")),
        str(pki.file("carol.key")),
    )  # carol.key is not carol's key
    with MTLSServer(app, certificate=pki.server, trust=pki.root) as s:
        obs = observe.observe(s, lambda: plain.get(s.url + "/api/secure", timeout=10))
        no_handshake = s.handshakes == 0
    server_saw = (
        "no TLS handshake: a TCP connection opened and closed before any ClientHello "
        f"({obs.server_saw})"
    )
    behaved = (
        no_handshake
        and "key values mismatch" in obs.client_saw
        and "closed the connection" in obs.server_saw
    )
    return ScenarioResult(
        "key-cert-mismatch",
        obs.client_saw,
        server_saw,
        obs.status,
        category="key-mismatch",
        cause="the private key is not the other half of the certificate's public key; OpenSSL refuses to "
        "load the pair (KEY_VALUES_MISMATCH). urllib3 had already opened the TCP connection, so "
        "the server saw one close before any TLS bytes",
        fix="point to the key that was generated with this certificate (python -m lab doctor FILES "
        "shows which key matches which certificate), or reissue the pair",
        behaved=behaved,
        client_error=raw_error(obs.client_error),
    )


@scenario("wrong-pfx-password", "identity", "the .pfx bundle is opened with the wrong password")
def wrong_pfx_password() -> ScenarioResult:
    pki = shared_pki()
    return client_side_failure(
        "wrong-pfx-password",
        lambda s: session(str(pki.file("alice.pfx")), trust=pki.root, password="pfx-password"),
        expect_error=WrongPasswordError,
        category="wrong-password",
        cause="the .pfx could not be decrypted with the password given (the guide's placeholder "
        "'pfx-password'); the client failed while loading its identity, before connecting",
        fix="use the password the bundle was exported with (the lab keeps it in certs/pfx-password.txt), "
        "or re-export it: openssl pkcs12 -export -in client.crt -inkey client.key -out client.pfx",
    )


@scenario(
    "encrypted-key-without-passphrase",
    "identity",
    "the client's private key is encrypted and no passphrase is given",
)
def encrypted_key_without_passphrase() -> ScenarioResult:
    pki = shared_pki()
    return client_side_failure(
        "encrypted-key-without-passphrase",
        lambda s: session(
            (str(pki.file("alice-encrypted.crt")), str(pki.file("alice-encrypted.key"))),
            trust=pki.root,
        ),
        expect_error=PassphraseRequiredError,
        category="passphrase-required",
        cause="the key file is encrypted (BEGIN ENCRYPTED PRIVATE KEY) and no passphrase was given. "
        "requests cannot pass one at all, and OpenSSL's fallback is to prompt on the terminal "
        "(curl prints 'Enter PEM pass phrase:'), which hangs a service or a notebook",
        fix="give the passphrase (session(..., password=...), curl --pass), or use a .pfx with its "
        "password; store the secret in a secret manager, not next to the key",
    )


#: This module's scenarios, in the order the catalogue lists them.
SCENARIOS = (
    no_client_cert,
    server_cert_without_san,
    wrong_hostname,
    key_cert_mismatch,
    wrong_pfx_password,
    encrypted_key_without_passphrase,
)
