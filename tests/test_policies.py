"""lab.auth.policies: each rule allows what it names, refuses the rest, and says why."""

from __future__ import annotations

import pytest
from conftest import forge_client

from lab.auth import policies
from lab.auth.policies import PolicyError
from lab.pki.certinfo import spki_pin, thumbprint
from lab.tls.identity import ClientIdentity


@pytest.fixture(scope="module")
def ca(root_ca):  # conftest's shared root
    return root_ca


@pytest.fixture(scope="module")
def alice(ca):
    return ca.issue_client(
        "alice",
        email="alice@lab.test",
        dns=["alice.lab.test"],
        uri="spiffe://lab.test/ns/payments/sa/api",
    )


@pytest.fixture(scope="module")
def alice_id(alice):
    return ClientIdentity.from_certificate(alice.cert)


def ident(issued) -> ClientIdentity:
    return ClientIdentity.from_certificate(issued.cert)


def test_allow_subjects_matches_whole_cn_not_a_substring(ca, alice_id):
    policy = policies.allow_subjects("MyTrustedClient")
    assert policy(ident(ca.issue_client("MyTrustedClient"))) is None
    refusal = policy(ident(ca.issue_client("NotMyTrustedClient")))
    assert refusal == "subject CN=NotMyTrustedClient,O=mTLS Lab is not in the allow-list"


def test_allow_subjects_accepts_a_full_distinguished_name(alice_id):
    assert policies.allow_subjects("CN=alice,O=mTLS Lab")(alice_id) is None
    assert policies.allow_subjects("CN=alice,O=Other")(alice_id) is not None


def test_a_cn_spelling_a_dn_does_not_pass_an_allow_list_entry_meant_as_that_dn(ca):
    """An entry starting with CN= is a whole DN; a CN that merely reads like one is not it."""
    # lab.pki refuses such a CN; another CA need not
    trap = ident(forge_client(ca, "CN=MyTrustedClient,O=mTLS Lab"))
    policy = policies.allow_subjects("CN=MyTrustedClient,O=mTLS Lab")
    assert policy(ident(ca.issue_client("MyTrustedClient"))) is None
    assert policy(trap) == ("subject CN=CN=MyTrustedClient\\,O=mTLS Lab is not in the allow-list")


def test_a_cn_entry_never_matches_the_whole_dn_and_a_dn_entry_never_the_cn(ca, alice_id):
    assert policies.allow_subjects("alice")(alice_id) is None
    assert policies.allow_subjects("CN=alice,O=mTLS Lab")(alice_id) is None
    assert policies.allow_subjects("CN=alice")(alice_id) is not None  # a DN: O= is missing
    bare = ident(forge_client(ca, "alice"))  # CN only, no O
    assert policies.allow_subjects("CN=alice")(bare) is None


@pytest.mark.parametrize(
    "entry", ["O=mTLS Lab,CN=alice", "cn=alice", "CN=alice,,O=x", "CN=alice,O=mTLS Lab\\"]
)
def test_an_entry_that_is_neither_a_cn_nor_a_dn_starting_with_cn_is_refused(entry):
    with pytest.raises(PolicyError, match="starts with CN="):
        policies.allow_subjects(entry)


def test_thumbprint_pin_accepts_colon_and_uppercase_forms(alice, alice_id):
    tp = thumbprint(alice.cert)
    colons = ":".join(tp[i : i + 2] for i in range(0, 64, 2)).upper()
    assert policies.pin_thumbprint(colons)(alice_id) is None


def test_thumbprint_pin_breaks_when_the_certificate_is_reissued_with_the_same_key(
    ca, alice, alice_id
):
    again = ident(ca.issue_client("alice", key=alice.key))
    assert policies.pin_thumbprint(alice_id.thumbprint)(again) is not None


def test_spki_pin_survives_reissue_with_the_same_key_but_not_a_new_key(ca, alice, alice_id):
    pin = policies.pin_spki("sha256//" + spki_pin(alice.cert))
    assert pin(ident(ca.issue_client("alice", key=alice.key))) is None
    assert pin(ident(ca.issue_client("alice"))) is not None


@pytest.mark.parametrize("bad", ["", "abc", "zz" * 32])
def test_malformed_thumbprint_is_refused_with_what_to_do(bad):
    with pytest.raises(PolicyError, match="thumbprint"):
        policies.pin_thumbprint(bad)


def test_malformed_spki_pin_is_refused_with_what_to_do():
    with pytest.raises(PolicyError, match="SPKI"):
        policies.pin_spki("not-base64!")


def test_empty_lists_allow_nobody_never_anybody(alice_id):
    for nobody in (
        policies.allow_subjects(),
        policies.pin_thumbprint(),
        policies.pin_spki(),
        policies.san_matches(),
    ):
        assert nobody(alice_id) is not None, nobody


def test_san_pattern_matches_a_namespace_and_nothing_beside_it(ca, alice_id):
    policy = policies.san_matches("spiffe://lab.test/ns/payments/*")
    assert policy(alice_id) is None
    payroll = ident(ca.issue_client("p", uri="spiffe://lab.test/ns/payroll/sa/api"))
    assert policy(payroll) == (
        "no SAN entry matches spiffe://lab.test/ns/payments/* "
        "(the certificate has: spiffe://lab.test/ns/payroll/sa/api)"
    )


def test_san_exact_match_needs_the_whole_value(alice_id):
    assert policies.san_matches("spiffe://lab.test/ns/payments/sa/api")(alice_id) is None
    assert policies.san_matches("spiffe://lab.test/ns/payments")(alice_id) is not None


def test_san_kind_limits_which_entries_are_compared(alice_id):
    assert policies.san_matches("alice@lab.test", kind="email")(alice_id) is None
    assert policies.san_matches("alice@lab.test", kind="uri")(alice_id) is not None
    assert (
        policies.san_matches("ALICE.lab.test", kind="dns")(alice_id) is None
    )  # DNS is case-insensitive


def test_san_pattern_dots_are_literal(ca):
    policy = policies.san_matches("a.lab.test", kind="dns")
    assert policy(ident(ca.issue_client("x", dns=["aXlab.test"]))) is not None


def test_and_requires_both_and_gives_the_first_refusal(alice_id):
    yes, no = policies.allow_subjects("alice"), policies.allow_subjects("bob")
    assert (yes & yes)(alice_id) is None
    assert (yes & no)(alice_id) == "subject CN=alice,O=mTLS Lab is not in the allow-list"
    assert (yes & no).name == "allow_subjects(alice) & allow_subjects(bob)"


def test_and_treats_an_empty_reason_as_a_refusal(alice_id):
    def terse(identity):
        return ""  # refused, without saying why

    assert (policies.Policy("terse", terse) & policies.allow_subjects("alice"))(alice_id) == ""
