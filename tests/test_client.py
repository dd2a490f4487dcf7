"""lab.tls.client against a real mTLS server on loopback: every way to give an identity,
trust that nothing in the environment can change, and the curl command it prints.

The REQUESTS_CA_BUNDLE trap (requests issue #3829) is shown both ways: the lab
session succeeds with the variables pointing at a bundle without our CA, and a
plain ``requests.Session`` with ``verify=<our CA>`` fails under the same
environment, on the requests version installed here.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from lab.course import demo
from lab.course.observe import client_view
from lab.errors import PassphraseRequiredError, WrongPasswordError
from lab.tls import client
from lab.tls.server import MTLSServer

ALICE = "Hello CN=alice,O=mTLS Lab"
KEY_PASSPHRASE = "key-passphrase-for-tests"
PFX_PASSWORD = "pfx-password-for-tests"
ENV_BUNDLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


# ----------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def files(tmp_path_factory, client_identity, root_ca, unrelated_ca) -> dict[str, Path]:
    """The client identity in every on-disk form, our CA, and a CA bundle WITHOUT our CA."""
    d = tmp_path_factory.mktemp("client-files")
    crt, key = client_identity.write(d / "alice")
    enc_crt, enc_key = client_identity.write(d / "alice-encrypted", password=KEY_PASSPHRASE)
    pfx = client_identity.to_pkcs12(d / "alice.pfx", PFX_PASSWORD)
    ca, _ = root_ca.write(d / "rootCA")
    other, _ = unrelated_ca.write(d / "other-bundle")
    return dict(
        crt=crt, key=key, enc_crt=enc_crt, enc_key=enc_key, pfx=pfx, ca=ca, other_bundle=other
    )


@pytest.fixture(scope="module")
def server(server_identity, root_ca):
    with MTLSServer(demo.create_app(), server_identity, trust=root_ca) as s:
        yield s


@pytest.fixture(scope="module")
def impostor(server_identity, unrelated_ca, root_ca):
    """A server whose certificate comes from another CA (it trusts our clients, to capture them)."""
    with MTLSServer(
        demo.create_app(), unrelated_ca.issue_server("localhost", "127.0.0.1"), trust=root_ca
    ) as s:
        yield s


@pytest.fixture
def foreign_env_bundle(monkeypatch, files):
    """REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE point at a bundle that does not hold our CA."""
    for name in ENV_BUNDLES:
        monkeypatch.setenv(name, str(files["other_bundle"]))


def refusal(call) -> str:
    """The stable client-side wording of the exception ``call`` raises (fails if it does not raise)."""
    with pytest.raises(requests.exceptions.RequestException) as info:
        call()
    return client_view(info.value)


# ----------------------------------------------------------- identity forms
def test_identity_as_issued_certificate_is_presented(server, client_identity, root_ca):
    assert (
        client.session(client_identity, trust=root_ca)
        .get(server.url + "/api/secure", timeout=5)
        .text
        == ALICE
    )


def test_identity_as_crt_and_key_paths_is_presented(server, files):
    s = client.session((files["crt"], files["key"]), trust=files["ca"])
    assert s.get(server.url + "/api/secure", timeout=5).text == ALICE


def test_identity_as_crt_path_alone_finds_the_key_beside_it(server, files):
    s = client.session(files["crt"], trust=files["ca"])
    assert s.get(server.url + "/api/secure", timeout=5).text == ALICE


def test_identity_as_pfx_with_password_is_presented(server, files):
    s = client.session(files["pfx"], trust=files["ca"], password=PFX_PASSWORD)
    assert s.get(server.url + "/api/secure", timeout=5).text == ALICE


def test_pfx_with_wrong_password_raises_wrong_password_error(files):
    with pytest.raises(WrongPasswordError, match="wrong password"):
        client.session(files["pfx"], trust=files["ca"], password="not-it")


def test_identity_as_encrypted_key_with_passphrase_is_presented(server, files):
    s = client.session(
        (files["enc_crt"], files["enc_key"]), trust=files["ca"], password=KEY_PASSPHRASE
    )
    assert s.get(server.url + "/api/secure", timeout=5).text == ALICE


def test_encrypted_key_with_wrong_passphrase_raises_wrong_password_error(files):
    with pytest.raises(WrongPasswordError, match="wrong passphrase"):
        client.session((files["enc_crt"], files["enc_key"]), trust=files["ca"], password="not-it")


def test_encrypted_key_without_passphrase_raises_passphrase_required_error(files):
    with pytest.raises(PassphraseRequiredError, match="is encrypted; give its passphrase"):
        client.session((files["enc_crt"], files["enc_key"]), trust=files["ca"])


def test_no_identity_is_a_client_without_certificate(server, root_ca):
    """The server's record, not the client's racing error, says what happened."""
    n = len(server.handshake_failures)
    refusal(lambda: client.session(None, trust=root_ca).get(server.url + "/api/secure", timeout=5))
    assert server.wait_for_handshake_failure(after=n).reason == "peer did not return a certificate"


# -------------------------------------------------------------------- trust
def test_trust_is_required_with_a_message_saying_what_to_pass(client_identity):
    with pytest.raises(
        ValueError, match="trust is required: pass the CA that signed the server certificate"
    ):
        client.session(client_identity)


def test_trust_as_pem_bytes_works(server, client_identity, root_ca):
    s = client.session(client_identity, trust=root_ca.cert_pem)
    assert s.get(server.url + "/api/secure", timeout=5).text == ALICE


def test_lab_session_trusts_only_the_given_ca_and_not_the_system_store(client_identity, root_ca):
    s = client.session(client_identity, trust=root_ca)
    anchors = s.ssl_context.get_ca_certs()
    assert [dict(x[0] for x in a["subject"])["commonName"] for a in anchors] == ["Test Root CA"]


def test_lab_session_succeeds_with_env_bundles_that_lack_our_ca(server, files, foreign_env_bundle):
    s = client.session((files["crt"], files["key"]), trust=files["ca"])
    assert s.get(server.url + "/api/secure", timeout=5).text == ALICE


@pytest.mark.parametrize("variable", ENV_BUNDLES)
def test_plain_requests_session_verify_is_silently_replaced_by_the_env_bundle(
    server, files, monkeypatch, variable
):
    """requests issue #3829, live: Session.verify=<our CA> loses to the environment."""
    for name in ENV_BUNDLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, str(files["other_bundle"]))
    plain = requests.Session()  # trust_env left on, as everyone writes it
    plain.verify = str(files["ca"])
    plain.cert = (str(files["crt"]), str(files["key"]))
    assert refusal(lambda: plain.get(server.url + "/api/secure", timeout=5)).startswith(
        "certificate verify failed"
    )


def test_plain_requests_session_with_trust_env_off_keeps_its_verify(
    server, files, foreign_env_bundle
):
    """The contrast: the same session works once trust_env is off."""
    plain = requests.Session()
    plain.trust_env = False
    plain.verify = str(files["ca"])
    plain.cert = (str(files["crt"]), str(files["key"]))
    assert plain.get(server.url + "/api/secure", timeout=5).text == ALICE


def test_lab_session_refuses_a_server_from_a_ca_that_only_the_env_bundle_trusts(
    impostor, files, foreign_env_bundle
):
    """The env bundle holds the impostor's CA; the lab session still trusts only ours."""
    s = client.session((files["crt"], files["key"]), trust=files["ca"])
    n = len(impostor.handshake_failures)
    saw = refusal(lambda: s.get(impostor.url + "/api/secure", timeout=5))
    assert saw == "certificate verify failed: unable to get local issuer certificate"
    assert impostor.wait_for_handshake_failure(after=n).reason == "tlsv1 alert unknown ca"


def test_per_request_verify_path_cannot_widen_the_lab_trust(
    impostor, client_identity, root_ca, files
):
    s = client.session(client_identity, trust=root_ca)
    saw = refusal(
        lambda: s.get(impostor.url + "/api/secure", verify=str(files["other_bundle"]), timeout=5)
    )
    assert saw == "certificate verify failed: unable to get local issuer certificate"


def test_per_request_verify_false_raises_insecure_request_refused(server, client_identity, root_ca):
    s = client.session(client_identity, trust=root_ca)
    before = server.handshakes
    with pytest.raises(
        client.InsecureRequestRefused, match="DangerousAcceptAnyServerCertificateValidator"
    ):
        s.get(server.url + "/api/secure", verify=False, timeout=5)
    assert server.handshakes == before  # refused before connecting


def test_session_verify_false_attribute_raises_insecure_request_refused(
    server, client_identity, root_ca
):
    s = client.session(client_identity, trust=root_ca)
    s.verify = False
    with pytest.raises(client.InsecureRequestRefused):
        s.get(server.url + "/api/secure", timeout=5)


def test_hostname_is_checked_against_the_san_only(
    app_for_hostname_checks, intermediate_ca, client_identity, root_ca
):
    """A certificate naming localhost only in its CN (the guide's openssl commands) is refused."""
    cn_only = intermediate_ca.issue_server("localhost", san=False)
    with MTLSServer(app_for_hostname_checks, cn_only, trust=root_ca) as s:
        saw = refusal(
            lambda: client.session(client_identity, trust=root_ca).get(
                s.url + "/healthz", timeout=5
            )
        )
    assert (
        saw
        == "certificate verify failed: Hostname mismatch, certificate is not valid for 'localhost'."
    )


def test_a_server_certificate_for_another_name_is_refused(
    app_for_hostname_checks, intermediate_ca, client_identity, root_ca
):
    elsewhere = intermediate_ca.issue_server("api.lab.test")
    with MTLSServer(app_for_hostname_checks, elsewhere, trust=root_ca) as s:
        saw = refusal(
            lambda: client.session(client_identity, trust=root_ca).get(
                s.url + "/healthz", timeout=5
            )
        )
    assert (
        saw
        == "certificate verify failed: Hostname mismatch, certificate is not valid for 'localhost'."
    )


@pytest.fixture(scope="module")
def app_for_hostname_checks():
    return demo.create_app()
