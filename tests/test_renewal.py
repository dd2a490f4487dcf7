"""lab.renewal: the two-thirds rule, a session that renews itself, short-lived certificates."""

from __future__ import annotations

import datetime as _dt
import itertools
import threading
import time

import pytest

from lab.course import demo
from lab.course.observe import observe
from lab.ops import renewal
from lab.tls.client import session
from lab.tls.server import MTLSServer

T0 = _dt.datetime(2026, 1, 1, tzinfo=_dt.timezone.utc)


@pytest.fixture
def running(root_ca, server_identity):
    with MTLSServer(demo.create_app(), certificate=server_identity, trust=root_ca) as srv:
        yield srv


class FakeClock:
    """A clock the test moves by hand, so the renewal decision is tested at any instant."""

    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


def test_renew_at_is_two_thirds_of_the_lifetime(intermediate_ca):
    cert = intermediate_ca.issue_client(
        "alice", not_before=T0, not_after=T0 + _dt.timedelta(days=90)
    )
    assert renewal.renew_at(cert) == T0 + _dt.timedelta(days=60)
    assert renewal.describe_schedule(cert) == (
        "lifetime 90 days: renew after 60 days, leaving 30 days to retry before it expires"
    )


def test_needs_renewal_is_false_before_two_thirds_and_true_after(intermediate_ca):
    cert = intermediate_ca.issue_client(
        "alice", not_before=T0, not_after=T0 + _dt.timedelta(hours=24)
    )
    assert not renewal.needs_renewal(cert, now=T0 + _dt.timedelta(hours=15, minutes=59))
    assert renewal.needs_renewal(cert, now=T0 + _dt.timedelta(hours=16))


def test_renew_at_refuses_a_fraction_outside_zero_and_one(intermediate_ca):
    with pytest.raises(ValueError, match="between 0 and 1"):
        renewal.renew_at(intermediate_ca.issue_client("alice"), fraction=1.5)


def test_issue_short_lived_has_exactly_the_requested_lifetime(intermediate_ca):
    cert = renewal.issue_short_lived(intermediate_ca, "alice", 300)
    assert renewal.lifetime(cert) == _dt.timedelta(seconds=300)
    assert cert.cert.not_valid_before_utc <= renewal.utcnow()


def test_renewing_session_presents_the_new_certificate_once_two_thirds_have_passed(
    running, intermediate_ca, root_ca
):
    names = (f"alice-{i}" for i in itertools.count(1))
    now = renewal.utcnow()
    clock = FakeClock(now)

    def issue():
        return intermediate_ca.issue_client(
            next(names),
            not_before=now - _dt.timedelta(minutes=1),
            not_after=now + _dt.timedelta(minutes=2),
        )

    with renewal.RenewingSession(issue, trust=root_ca, clock=clock) as s:
        assert "CN=alice-1" in s.get(running.url + "/api/secure").text
        clock.now = now + _dt.timedelta(seconds=59)  # 2/3 of 3 minutes is 1 minute after notBefore
        assert "CN=alice-1" in s.get(running.url + "/api/secure").text
        clock.now = now + _dt.timedelta(seconds=61)
        assert "CN=alice-2" in s.get(running.url + "/api/secure").text
        assert s.renewals == 1


def test_renewal_failure_keeps_the_current_certificate_and_is_recorded(
    running, intermediate_ca, root_ca
):
    now = renewal.utcnow()  # already past two-thirds: renewal is due from the start
    certs = iter(
        [
            intermediate_ca.issue_client(
                "alice",
                not_before=now - _dt.timedelta(days=1),
                not_after=now + _dt.timedelta(minutes=1),
            )
        ]
    )

    def issue():
        return next(certs)  # the second call raises StopIteration: the CA is "down"

    with renewal.RenewingSession(issue, trust=root_ca) as s:
        assert s.renew_if_due() is False
        assert s.renew_errors and "StopIteration" in s.renew_errors[0]
        assert s.get(running.url + "/api/secure").status_code == 200
        assert s.renewals == 0


def test_concurrent_requests_across_a_renewal_do_not_fail(running, intermediate_ca, root_ca):
    now = renewal.utcnow()
    clock = FakeClock(now)

    def issue():
        return intermediate_ca.issue_client(
            "alice",
            not_before=now - _dt.timedelta(minutes=1),
            not_after=now + _dt.timedelta(minutes=2),
        )

    lock = threading.Lock()
    done, failures = [0], []

    def worker(s):
        for _ in range(15):
            try:
                r = s.get(running.url + "/api/secure", timeout=10)
                ok = r.status_code == 200
            except Exception as exc:  # noqa: BLE001
                ok = False
                failures.append(repr(exc))
            with lock:
                done[0] += 1
                if not ok:
                    failures.append("status")
                if done[0] == 20:
                    clock.now = now + _dt.timedelta(minutes=5)  # every later request is due

    with renewal.RenewingSession(issue, trust=root_ca, clock=clock) as s:
        threads = [threading.Thread(target=worker, args=(s,)) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert failures == []
        assert s.renewals >= 1


def _wait_until(predicate, timeout):
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.05)
    return predicate()


def test_renew_loop_renews_an_idle_short_lived_certificate_before_it_expires(
    running, intermediate_ca, root_ca
):
    with renewal.RenewingSession(
        lambda: renewal.issue_short_lived(intermediate_ca, "alice", 3), trust=root_ca
    ) as s:
        first = s.certificate
        with renewal.RenewLoop(s, poll=0.05) as loop:
            assert loop.running
            assert _wait_until(lambda: s.renewals >= 1, timeout=15)
        assert not loop.running
        assert s.history[0] is first and s.certificate is not first
        assert renewal.utcnow() < s.certificate.cert.not_valid_after_utc
        assert s.session.get(running.url + "/api/secure").status_code == 200


def test_short_lived_certificate_is_refused_by_the_server_once_expired(
    running, intermediate_ca, root_ca
):
    cert = renewal.issue_short_lived(intermediate_ca, "alice", 1)
    assert _wait_until(
        lambda: renewal.utcnow() > cert.cert.not_valid_after_utc + _dt.timedelta(seconds=1),
        timeout=10,
    )
    seen = observe(running, lambda: session(cert, root_ca).get(running.url + "/api/secure"))
    assert not seen.ok
    assert (
        seen.server_saw == "handshake refused: certificate verify failed: certificate has expired"
    )


def test_call_repeatedly_counts_a_fixed_number_of_requests_and_their_failures(
    running, root_ca, client_identity, unrelated_ca
):
    good = renewal.call_repeatedly(
        session(client_identity, root_ca),
        running.url + "/api/secure",
        threads=2,
        requests_per_thread=3,
        pause=0,
    )
    assert (good.requests, good.failed) == (6, 0)
    stranger = session(unrelated_ca.issue_client("mallory"), root_ca)
    bad = renewal.call_repeatedly(
        stranger, running.url + "/api/secure", threads=1, requests_per_thread=2, pause=0
    )
    assert (bad.requests, bad.failed) == (2, 2)
    assert "2 requests, 2 failed" in str(bad)
