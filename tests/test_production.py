"""lab.course.production: the constrained issuing CA, SPIFFE identities and the monitoring figures of notebook 10."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509

from lab.course import demo, production
from lab.course.observe import observe
from lab.errors import LabError
from lab.pki import verify
from lab.revocation import Revocations
from lab.tls import client
from lab.tls.server import MTLSServer


@pytest.fixture(scope="module")
def payments_ca(root_ca):
    return production.constrained_intermediate(
        root_ca,
        "Payments Issuing CA",
        permitted=["payments.lab.test", "spiffe://lab.test", "127.0.0.0/8"],
    )


def test_constrained_intermediate_carries_critical_name_constraints_and_pathlen_0(payments_ca):
    ext = payments_ca.cert.extensions.get_extension_for_class(x509.NameConstraints)
    assert ext.critical
    assert ext.value.permitted_subtrees == [
        x509.DNSName("payments.lab.test"),
        x509.UniformResourceIdentifier("lab.test"),
        x509.IPAddress(__import__("ipaddress").ip_network("127.0.0.0/8")),
    ]
    assert (
        payments_ca.cert.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length
        == 0
    )
    assert "pathlen 0; permitted DNS:payments.lab.test" in production.describe_constraints(
        payments_ca
    )


def test_leaf_inside_the_constraint_verifies_and_one_outside_is_refused(payments_ca, root_ca):
    inside = payments_ca.issue_server("api.payments.lab.test")
    outside = payments_ca.issue_server("login.bank.test")
    assert verify.verify_chain(
        inside, root_ca, purpose="server", hostname="api.payments.lab.test"
    ).ok
    refused = verify.verify_chain(outside, root_ca, purpose="server", hostname="login.bank.test")
    assert not refused.ok and "name constraint" in refused.reason


def test_a_sub_ca_below_pathlen_0_is_refused(payments_ca, root_ca):
    rogue = payments_ca.create_intermediate("Rogue Sub CA")
    check = verify.verify_chain(
        rogue.issue_server("api.payments.lab.test"),
        root_ca,
        purpose="server",
        hostname="api.payments.lab.test",
    )
    assert not check.ok and "path length" in check.reason


def test_openssl_refuses_a_server_name_outside_the_constraint_at_the_handshake(
    root_ca, server_identity
):
    dns_only = production.constrained_intermediate(
        root_ca, "DNS-only CA", permitted=["payments.lab.test"]
    )
    leaf = dns_only.issue_server("localhost", "127.0.0.1")
    with MTLSServer(demo.create_app(), certificate=leaf, trust=root_ca) as s:
        seen = observe(s, lambda: client.session(None, trust=root_ca).get(s.url + "/healthz"))
    assert seen.client_saw == "certificate verify failed: permitted subtree violation"


def test_openssl_enforces_the_spiffe_trust_domain_of_a_uri_constraint(
    payments_ca, root_ca, server_identity
):
    inside = production.issue_svid(payments_ca, "spiffe://lab.test/ns/payments/sa/api")
    outside = production.issue_svid(payments_ca, "spiffe://evil.test/ns/payments/sa/api")
    with MTLSServer(demo.create_app(), certificate=server_identity, trust=root_ca) as s:
        ok = client.session(inside, trust=root_ca).get(s.url + "/api/secure")
        refused = observe(
            s, lambda: client.session(outside, trust=root_ca).get(s.url + "/api/secure")
        )
    assert ok.status_code == 200
    assert (
        refused.server_saw
        == "handshake refused: certificate verify failed: permitted subtree violation"
    )


@pytest.mark.parametrize("entry", ["", "spiffe://", "10.0.0.0/33", "not a name!"])
def test_unusable_name_constraints_are_refused_with_a_lab_error(root_ca, entry):
    with pytest.raises(production.NameConstraintError):
        production.constrained_intermediate(root_ca, "x", permitted=[entry])


def test_a_constrained_intermediate_needs_at_least_one_constraint(root_ca):
    with pytest.raises(production.NameConstraintError, match="at least one"):
        production.constrained_intermediate(root_ca, "x")


def test_issue_svid_makes_a_short_lived_client_certificate_with_one_uri_san(intermediate_ca):
    svid = production.issue_svid(intermediate_ca, "spiffe://lab.test/ns/payments/sa/api", hours=1)
    san = svid.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert list(san) == [x509.UniformResourceIdentifier("spiffe://lab.test/ns/payments/sa/api")]
    assert svid.cert.not_valid_after_utc - svid.cert.not_valid_before_utc == dt.timedelta(
        hours=1, minutes=5
    )
    assert svid.common_name == "api"


@pytest.mark.parametrize(
    "bad",
    [
        "https://lab.test/x",
        "spiffe://Lab.Test/x",
        "spiffe:///x",
        "spiffe://lab.test/x/",
        "spiffe://lab.test/a/../b",
        "spiffe://lab.test:8443/x",
        "spiffe://lab.test/x?y=1",
    ],
)
def test_malformed_spiffe_ids_are_refused_with_a_reason(bad):
    with pytest.raises(production.SpiffeIdError) as err:
        production.parse_spiffe_id(bad)
    assert isinstance(err.value, LabError) and bad in str(err.value)


def test_parse_spiffe_id_splits_trust_domain_and_path():
    assert production.parse_spiffe_id("spiffe://lab.test/ns/payments/sa/api") == (
        "lab.test",
        "/ns/payments/sa/api",
    )
    assert production.parse_spiffe_id("spiffe://lab.test") == ("lab.test", "")


def test_failure_tally_counts_a_real_servers_refusals_by_reason(
    root_ca, server_identity, client_identity, unrelated_ca
):
    stranger = unrelated_ca.issue_client("stranger")
    with MTLSServer(demo.create_app(), certificate=server_identity, trust=root_ca) as s:
        for identity in (client_identity, None, None, stranger):
            with client.session(identity, trust=root_ca) as c:
                observe(s, lambda: c.get(s.url + "/healthz"))
        tally = production.failure_tally(s)
        handshakes = s.handshakes
    assert tally == {
        "peer did not return a certificate": 2,
        "certificate verify failed: unable to get local issuer certificate": 1,
    }
    assert handshakes == 1
    table = production.format_tally(tally, handshakes_ok=handshakes).splitlines()
    assert table[0].split() == ["1", "handshakes", "completed"]
    assert table[1].split()[0] == "2" and "peer did not return" in table[1]


def test_prometheus_lines_escape_quotes_and_label_each_reason():
    text = production.prometheus_lines({'bad "quote"': 2, "expired": 1}, handshakes_ok=5)
    assert 'mtls_handshake_failures_total{reason="bad \\"quote\\""} 2' in text
    assert 'mtls_handshake_failures_total{reason="expired"} 1' in text
    assert text.splitlines()[-1] == "mtls_handshakes_total 5"


def test_crl_freshness_is_fresh_due_or_stale(root_ca):
    record = Revocations(root_ca)
    now = dt.datetime.now(dt.timezone.utc)
    fresh = record.crl(
        this_update=now - dt.timedelta(hours=1), next_update=now + dt.timedelta(days=6)
    )
    due = record.crl(
        this_update=now - dt.timedelta(days=6), next_update=now + dt.timedelta(hours=12)
    )
    stale = record.crl(
        this_update=now - dt.timedelta(days=8), next_update=now - dt.timedelta(days=1)
    )
    assert [production.freshness(c, now=now).state for c in (fresh, due, stale)] == [
        "fresh",
        "due",
        "stale",
    ]
    assert str(production.freshness(stale, now=now)).startswith(
        "stale: nextUpdate passed 24 hours ago"
    )


def test_freshness_refuses_something_that_has_no_validity_window():
    with pytest.raises(TypeError):
        production.freshness(object())
