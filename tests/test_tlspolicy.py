"""lab.tls.policy: Mozilla's intermediate profile (6.0) on every context and in nginx; modern on request.

The sslyze verdicts are in test_audit.py; these checks need only Python, openssl and nginx.
"""

from __future__ import annotations

import ssl

import pytest
from test_proxy import nginx_t

from lab.course.demo import create_app
from lab.proxy import NginxProxy
from lab.tls import contexts as tlsconfig
from lab.tls import policy as tlspolicy
from lab.tls.server import MTLSServer

#: Mozilla's intermediate TLS 1.2 suites (OpenSSL names), from guidelines/6.0.json.
MOZILLA_TLS12 = {
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
}


def tls12_names(ctx: ssl.SSLContext) -> set[str]:
    return {c["name"] for c in ctx.get_ciphers() if c["protocol"] == "TLSv1.2"}


@pytest.mark.parametrize("side", ["server", "client"])
def test_both_sides_offer_only_the_profiles_tls12_suites_and_never_cbc(throwaway_pki, side):
    if side == "server":
        ctx = tlsconfig.server_context(throwaway_pki.server, throwaway_pki.root)
    else:
        ctx = tlsconfig.client_context(throwaway_pki.client, throwaway_pki.root)
    assert tls12_names(ctx) == MOZILLA_TLS12
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert ctx.options & ssl.OP_NO_COMPRESSION
    assert not ctx.options & ssl.OP_CIPHER_SERVER_PREFERENCE


def test_python_defaults_would_offer_cbc_suites_the_policy_removes():
    defaults = tls12_names(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))
    assert "ECDHE-ECDSA-AES128-SHA256" in defaults  # CBC, what sslyze flagged
    assert not any("-SHA256" in n and "GCM" not in n and "CHACHA" not in n for n in MOZILLA_TLS12)


def test_modern_is_tls13_only_and_an_unknown_profile_is_refused(throwaway_pki):
    ctx = tlsconfig.server_context(throwaway_pki.server, throwaway_pki.root, profile="modern")
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_3
    with pytest.raises(ValueError, match="intermediate, modern"):
        tlsconfig.server_context(throwaway_pki.server, throwaway_pki.root, profile="old")


@pytest.mark.interop
def test_the_server_accepts_prime256v1_and_refuses_every_other_group(
    throwaway_pki, openssl, tmp_path
):
    throwaway_pki.root.write(tmp_path / "ca")
    throwaway_pki.client.write(tmp_path / "client")
    with MTLSServer(
        create_app(), certificate=throwaway_pki.server, trust=throwaway_pki.root, raise_errors=False
    ) as server:
        for group, accepted in (
            ("prime256v1", True),
            ("X25519", False),
            ("secp384r1", False),
            ("secp521r1", False),
            ("X448", False),
        ):
            out = openssl(
                "s_client",
                "-connect",
                f"127.0.0.1:{server.port}",
                "-groups",
                group,
                "-cert",
                tmp_path / "client.crt",
                "-key",
                tmp_path / "client.key",
                "-CAfile",
                tmp_path / "ca.pem",
                input="",
            )
            text = out.stdout + out.stderr
            assert ("Server Temp Key: ECDH, prime256v1" in text) is accepted, (group, text[-400:])


def proxy_text(pki, **options) -> str:
    """The nginx.conf NginxProxy would run on port 8443."""
    proxy = NginxProxy("https://127.0.0.1:9", certificate=pki.server, trust=pki.root, **options)
    return proxy.config_text(8443)


def test_nginx_gets_the_generators_directives_at_http_level(throwaway_pki):
    text = proxy_text(throwaway_pki)
    http, server = text.split("    server {", 1)
    for line in (
        "ssl_ecdh_curve X25519:prime256v1:secp384r1;",
        f"ssl_ciphers {tlspolicy.INTERMEDIATE_CIPHERS};",
        "ssl_prefer_server_ciphers off;",
        "ssl_session_timeout 1d;",
        "ssl_session_cache shared:MozSSL:10m;",
        "ssl_session_tickets off;",
    ):
        assert f"    {line}\n" in http
    assert "ssl_protocols       TLSv1.2 TLSv1.3;" in server


def test_nginx_modern_drops_tls12_and_its_cipher_list(throwaway_pki):
    text = proxy_text(throwaway_pki, tls_profile="modern")
    assert "ssl_protocols       TLSv1.3;" in text and "ssl_ciphers" not in text
    assert "ssl_session_cache" not in text  # the generator writes none for TLS 1.3 only
    assert (
        "ssl_ecdh_curve X25519:prime256v1:secp384r1;" in text and "ssl_session_tickets off;" in text
    )


@pytest.mark.interop
@pytest.mark.parametrize("profile", tlspolicy.PROFILES)
def test_nginx_t_accepts_both_profiles(throwaway_pki, tmp_path, monkeypatch, profile):
    monkeypatch.setenv("LAB_STATE_DIR", str(tmp_path))
    p = NginxProxy(
        "https://127.0.0.1:9",
        certificate=throwaway_pki.server,
        trust=throwaway_pki.root,
        tls_profile=profile,
    )
    assert nginx_t(p) == 0  # nginx itself accepts the profile's directives


def test_a_modern_server_answers_tls13_and_refuses_a_tls12_client(throwaway_pki):
    import requests

    from lab.tls import client

    pki = throwaway_pki
    with MTLSServer(create_app(), certificate=pki.server, trust=pki.root, profile="modern") as srv:
        with client.session(pki.client, trust=pki.root) as s:
            assert s.get(srv.url + "/api/secure", timeout=10).status_code == 200
        old = client.session(pki.client, trust=pki.root, max_version="1.2")
        before = len(srv.handshake_failures)
        with old, pytest.raises(requests.exceptions.SSLError):
            old.get(srv.url + "/api/secure", timeout=10)
        # the server's own record of the refusal (recorded in its thread: wait for it)
        failure = srv.wait_for_handshake_failure(after=before)
    assert failure is not None and failure.reason == "unsupported protocol"


def test_a_bad_tls_profile_is_a_usage_error(run_lab, shared_course_dir):
    bad = run_lab("serve", "--certs", shared_course_dir, "--tls-profile", "old")
    assert bad.rc == 2 and "invalid choice: 'old'" in bad.stderr and not bad.has_traceback
