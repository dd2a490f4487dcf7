"""lab.course.rollover: replacing the root CA, in the right order and in the wrong ones."""

from __future__ import annotations

import pytest

from lab.course import rollover


@pytest.fixture(scope="module")
def pki():
    return rollover.RolloverPKI.create()


def test_cross_signed_intermediate_has_the_new_subject_and_key_and_the_old_issuer(pki):
    cross, new = pki.cross, pki.new_issuing.cert
    assert cross.subject == new.subject
    assert cross.public_key().public_numbers() == new.public_key().public_numbers()
    assert cross.issuer == pki.old_root.cert.subject
    cross.verify_directly_issued_by(pki.old_root.cert)


def test_right_order_keeps_every_client_working_at_every_step(pki):
    result = rollover.run_plan(rollover.RIGHT_ORDER, pki)
    assert [s.step for s in result.steps[1:]] == rollover.RIGHT_ORDER
    assert result.ok, str(result)
    assert result.complete
    # the middle of the rollover is a mixed fleet: alice on the new CA, bob still on the old one
    mixed = result.steps[rollover.RIGHT_ORDER.index("reissue alice") + 1]
    assert {p.client: p.generation for p in mixed.probes} == {"alice": "new", "bob": "old"}
    assert mixed.ok


def test_new_server_certificate_before_clients_trust_the_new_root_breaks_every_client(pki):
    result = rollover.run_plan(["server trusts new root", "reissue server certificate"], pki)
    step = result.steps[-1]
    assert [p.ok for p in step.probes] == [False, False]
    obs = step.probes[0].observation
    assert obs.client_saw == "certificate verify failed: unable to get local issuer certificate"
    assert obs.server_saw == "handshake refused: tlsv1 alert unknown ca"


def test_new_client_certificate_before_the_server_trusts_the_new_root_is_refused_by_the_server(pki):
    result = rollover.run_plan(["clients trust new root", "reissue alice"], pki)
    alice, bob = result.steps[-1].probes
    assert not alice.ok and bob.ok
    assert alice.observation.server_saw == (
        "handshake refused: certificate verify failed: unable to get local issuer certificate"
    )


def test_removing_the_old_root_before_every_client_is_reissued_strands_the_rest(pki):
    order = [
        "server trusts new root",
        "clients trust new root",
        "reissue server certificate",
        "reissue alice",
        "remove old root",
    ]
    result = rollover.run_plan(order, pki)
    step, probe = result.first_failure
    assert step.step == "remove old root"
    assert probe.client == "bob" and probe.generation == "old"
    assert not result.complete


def test_cross_signed_server_chain_is_accepted_by_a_client_that_trusts_only_the_old_root(pki):
    obs = rollover.check_one(
        pki, server="new-cross", server_trust=["old"], client="old", client_trust=["old"]
    )
    assert obs.ok, str(obs)


def test_cross_signed_client_chain_is_accepted_by_a_server_that_trusts_only_the_old_root(pki):
    obs = rollover.check_one(
        pki, server="old", server_trust=["old"], client="new-cross", client_trust=["old"]
    )
    assert obs.ok, str(obs)


def test_cross_signed_chain_does_not_help_a_client_that_trusts_only_the_new_root(pki):
    obs = rollover.check_one(
        pki, server="new-cross", server_trust=["old"], client="old", client_trust=["new"]
    )
    assert not obs.ok
    assert obs.client_saw == "certificate verify failed: unable to get local issuer certificate"


def test_run_plan_names_the_valid_steps_when_given_an_unknown_one(pki):
    with pytest.raises(ValueError, match="unknown step.*remove old root"):
        rollover.run_plan(["rotate everything"], pki)


def test_exercise_check_accepts_another_safe_order_and_rejects_an_unsafe_one(capsys):
    from lab.course import check

    safe = [
        "clients trust new root",
        "server trusts new root",
        "reissue alice",
        "reissue server certificate",
        "reissue bob",
        "remove old root",
    ]
    assert check.exercise_rollover_order(safe)
    unsafe = ["reissue alice", *[s for s in rollover.RIGHT_ORDER if s != "reissue alice"]]
    assert not check.exercise_rollover_order(unsafe)
    out = capsys.readouterr().out
    assert out.startswith("✅") and "💡 Not yet: after 'reissue alice', alice (new CA)" in out
