"""lab.auth.cache: bounded, expiring, and never serves an expired certificate."""

from __future__ import annotations

import datetime as dt

import pytest

from lab.auth.cache import CertificateCache


class Clock:
    """A clock the test moves by hand (no sleeping, no timing assertions)."""

    def __init__(self):
        self.now = dt.datetime.now(dt.timezone.utc)

    def __call__(self):
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture(scope="module")
def ca(root_ca):  # conftest's shared root
    return root_ca


def test_a_stored_outcome_is_returned_for_the_same_certificate(ca):
    cache, cert = CertificateCache(), ca.issue_client("a").cert
    assert cache.get(cert) is None
    cache.put(cert, "outcome")
    assert cache.get(cert) == "outcome"
    assert (cache.hits, cache.misses) == (1, 1)


def test_entries_are_keyed_by_the_whole_certificate_not_the_subject(ca):
    cache = CertificateCache()
    cache.put(ca.issue_client("same").cert, "first")
    assert cache.get(ca.issue_client("same").cert) is None


def test_the_least_recently_used_entry_is_evicted_when_full(ca):
    cache = CertificateCache(size=2)
    a, b, c = (ca.issue_client(n).cert for n in "abc")
    cache.put(a, 1)
    cache.put(b, 2)
    cache.get(a)  # a is now more recent than b
    cache.put(c, 3)
    assert cache.get(b) is None and cache.get(a) == 1 and cache.get(c) == 3


def test_an_entry_expires_after_its_ttl(ca):
    clock = Clock()
    cache, cert = CertificateCache(ttl=60, clock=clock), ca.issue_client("t").cert
    cache.put(cert, "ok")
    clock.advance(59)
    assert cache.get(cert) == "ok"
    clock.advance(2)
    assert cache.get(cert) is None and cache.misses == 1


def test_an_expired_certificate_is_never_served_from_the_cache(ca):
    clock = Clock()
    not_after = clock.now.replace(microsecond=0) + dt.timedelta(seconds=5)
    cert = ca.issue_client("short", not_after=not_after).cert
    cache = CertificateCache(ttl=3600, clock=clock)  # a ttl far beyond the certificate's life
    cache.put(cert, "valid when stored")
    assert cache.get(cert) == "valid when stored"
    clock.advance(6)
    assert cache.get(cert) is None


def test_an_already_expired_certificate_is_not_stored(ca):
    cache, cert = CertificateCache(), ca.issue_client("old", expired=True).cert
    cache.put(cert, "stale")
    assert cache.get(cert) is None and "0/1024" in repr(cache)


def test_nonsense_sizes_and_ttls_are_refused():
    with pytest.raises(ValueError, match="size"):
        CertificateCache(size=0)
    with pytest.raises(ValueError, match="ttl"):
        CertificateCache(ttl=0)
