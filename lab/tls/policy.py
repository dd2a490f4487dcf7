"""One TLS policy for every place the lab configures TLS: Mozilla's Server Side TLS profiles.

Source: Mozilla Server Side TLS guidelines, version 6.0 (2026-04-06, the generator's
``latest``): https://ssl-config.mozilla.org/guidelines/6.0.json, rendered by
https://ssl-config.mozilla.org/ (code: https://github.com/mozilla/ssl-config-generator).
sslyze 6.3.1 still ships guideline 5.7 and checks against it
(``--mozilla_config=intermediate``); these settings satisfy both, because 6.0 only
took suites away (the three DHE-RSA suites) and added X25519MLKEM768, a group that
needs OpenSSL 3.5 (the generator leaves it out for older OpenSSL, and so does the lab).

Two profiles, chosen with ``profile=`` (nginx's directives for them are written out in
``lab/proxy/templates/nginx.conf.j2``):

* ``"intermediate"`` (the default): TLS 1.2 and 1.3. In TLS 1.2 only ECDHE key
  exchange with AEAD ciphers (AES-GCM, ChaCha20-Poly1305): forward secrecy always,
  and no CBC suites (their MAC-then-encrypt padding gave Lucky13 and friends).
  TLS 1.3's three suites are OpenSSL's defaults, which are exactly the profile's.
* ``"modern"``: TLS 1.3 only.

Decisions, and why:

* Key-exchange groups. The profile allows X25519, prime256v1 and secp384r1. nginx
  takes the list (``ssl_ecdh_curve``). Python 3.11's :mod:`ssl` cannot set a list:
  its one public call, ``SSLContext.set_ecdh_curve``, names *one* group (with
  OpenSSL 3 it calls ``SSL_CTX_set1_groups`` with that group, for TLS 1.2 and 1.3
  alike). One group from the profile is compliant: the profile and sslyze forbid
  groups outside the list, and require none in particular. The lab picks
  prime256v1 (P-256): RFC 8446 section 9.1 makes it the group every TLS 1.3
  implementation MUST support (X25519 is a SHOULD), and Java 8, among the
  profile's oldest clients (8u161), has no X25519 (Java 11 added it). The cost: a
  TLS 1.3 client that guesses an X25519 key share (curl, browsers) gets one
  HelloRetryRequest. The lab's own clients use this policy and send P-256 at once.
* ``ssl_prefer_server_ciphers off`` / no ``OP_CIPHER_SERVER_PREFERENCE``: every
  suite left is strong, so the client may pick what its hardware runs fastest
  (ChaCha20 on phones without AES instructions), as the profile says.
* Sessions. For nginx the generator writes a one-day shared session cache for
  TLS 1.2 (none for TLS 1.3 only) and, for nginx older than 1.23.2 (which never
  rotates its ticket key), ``ssl_session_tickets off``; the lab writes it for every
  nginx, a safe choice on newer ones too. Python keeps OpenSSL's tickets: the key
  is random per process and the lab's servers are short-lived.
* The chain. A server should send its leaf and intermediates, not the root (the
  client must already hold it). nginx sends exactly its certificate file. Python
  cannot always: when the certificate file holds no intermediate (the course
  server is issued by the root itself), OpenSSL completes the chain from the
  context's trust store, which for mutual TLS holds the client CA, and sends the
  root too (SSL_CTX_add_extra_chain_cert(3), NOTES). The switch that stops it,
  SSL_MODE_NO_AUTO_CHAIN, is not in Python's ssl API. The root is allowed there
  (RFC 8446 section 4.4.2: it "MAY be omitted"); sslyze warns, and its Mozilla
  check passes. With an issuing CA, as in production, Python sends leaf + issuer.
"""

from __future__ import annotations

import ssl

#: The guideline version (published at the address above).
MOZILLA_VERSION = "6.0"

PROFILES = ("intermediate", "modern")
DEFAULT_PROFILE = "intermediate"

#: TLS 1.2 cipher suites of the intermediate profile, OpenSSL names, Mozilla's order.
INTERMEDIATE_SUITES = (
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
)
INTERMEDIATE_CIPHERS = ":".join(INTERMEDIATE_SUITES)

#: The profile's key-exchange groups (nginx and OpenSSL spelling), and the one Python can set.
CURVES = ("X25519", "prime256v1", "secp384r1")
PYTHON_GROUP = "prime256v1"


def check_profile(profile: str) -> str:
    if profile not in PROFILES:
        raise ValueError(f"TLS profile must be one of {', '.join(PROFILES)}, not {profile!r}")
    return profile


def apply(ctx: ssl.SSLContext, profile: str = DEFAULT_PROFILE) -> ssl.SSLContext:
    """Make ``ctx`` (server or client) follow Mozilla's ``profile``; returns ``ctx``.

    Call it after the minimum version is set: "modern" raises it to TLS 1.3.
    """
    if check_profile(profile) == "modern":
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.set_ciphers(INTERMEDIATE_CIPHERS)  # TLS 1.2 only; TLS 1.3 suites are the profile's
    ctx.set_ecdh_curve(PYTHON_GROUP)
    ctx.options |= ssl.OP_NO_COMPRESSION
    ctx.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    return ctx
