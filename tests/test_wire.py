"""lab.course.wire: the real openssl s_client, against a real MTLSServer, read down to the messages.

Both output options are exercised (``-trace`` and the ``-msg`` fallback) so the
fallback cannot rot on machines whose OpenSSL has ``-trace``.
"""

from __future__ import annotations

import pytest

from lab.course import wire
from lab.course.demo import create_app
from lab.errors import LabError
from lab.tls.server import MTLSServer

pytestmark = pytest.mark.interop

SERVER_FLIGHT = [
    "client ClientHello",
    "server ServerHello",
    "server EncryptedExtensions",
    "server CertificateRequest",
    "server Certificate",
    "server CertificateVerify",
    "server Finished",
]


@pytest.fixture(scope="module")
def mtls_server(server_identity, root_ca, openssl):  # openssl: fails when the binary is missing
    with MTLSServer(create_app(), certificate=server_identity, trust=root_ca) as srv:
        yield srv


@pytest.fixture(scope="module")
def files(tmp_path_factory, throwaway_pki):
    d = tmp_path_factory.mktemp("wire")
    (d / "root.pem").write_bytes(throwaway_pki.root.cert_pem)
    crt, key = throwaway_pki.client.write(d / "alice")
    return d / "root.pem", crt, key


@pytest.mark.parametrize("option", ["-trace", "-msg"])
def test_a_mutual_handshake_shows_both_certificates_and_both_proofs(mtls_server, files, option):
    if option == "-trace" and not wire.has_trace():
        pytest.skip("this openssl was built without -trace")
    root, crt, key = files
    trace = wire.trace_handshake(mtls_server.url, cafile=root, cert=crt, key=key, option=option)
    assert trace.names == SERVER_FLIGHT + [
        "client Certificate",
        "client CertificateVerify",
        "client Finished",
    ]
    assert trace.alert is None


@pytest.mark.parametrize("option", ["-trace", "-msg"])
def test_without_a_certificate_the_client_sends_an_empty_one_and_gets_an_alert(
    mtls_server, files, option
):
    if option == "-trace" and not wire.has_trace():
        pytest.skip("this openssl was built without -trace")
    root, _, _ = files
    before = len(mtls_server.handshake_failures)
    trace = wire.trace_handshake(mtls_server.url, cafile=root, option=option)
    assert trace.names == SERVER_FLIGHT + ["client Certificate", "client Finished", "server Alert"]
    assert trace.messages[7].detail == "(empty: no certificate)"
    assert trace.alert.detail == "fatal certificate_required (116)"
    refused = mtls_server.wait_for_handshake_failure(after=before)
    assert refused is not None and "did not return a certificate" in refused.reason


def test_trace_names_the_certificates_and_says_no_ca_list_is_sent(mtls_server, files):
    if not wire.has_trace():
        pytest.skip("this openssl was built without -trace")
    root, crt, key = files
    trace = wire.trace_handshake(mtls_server.url, cafile=root, cert=crt, key=key)
    details = {f"{m.sender} {m.name}": m.detail for m in trace.messages}
    assert details["server CertificateRequest"] == "send a certificate (no list of accepted CAs)"
    assert details["server Certificate"].startswith("CN=localhost")
    # alice.crt holds the intermediate after the leaf: the whole chain is sent, the leaf once
    assert details["client Certificate"] == "CN=alice, CN=Test Issuing CA"


def test_every_line_of_the_trace_is_short_and_free_of_lengths(mtls_server, files):
    root, crt, key = files
    text = str(wire.trace_handshake(mtls_server.url, cafile=root, cert=crt, key=key))
    assert text and all(len(line) < 120 for line in text.splitlines())
    assert "Length" not in text and "length" not in text


@pytest.mark.parametrize(
    "url", ["https://example.org:443", "https://localhost", "http://10.0.0.1:80"]
)
def test_only_a_lab_server_on_this_machine_can_be_traced(url, files):
    with pytest.raises(LabError, match="on this machine only"):
        wire.trace_handshake(url, cafile=files[0])
