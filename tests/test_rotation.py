"""lab.ops.rotation: hot swap of a running server's certificate, proven under concurrent load."""

from __future__ import annotations

import os

import pytest

from lab.course import demo
from lab.ops import rotation
from lab.pki.certinfo import thumbprint
from lab.tls.server import MTLSServer


@pytest.fixture
def running(root_ca, server_identity):
    with MTLSServer(demo.create_app(), certificate=server_identity, trust=root_ca) as srv:
        yield srv


def test_swap_under_concurrent_load_fails_no_request(
    running, intermediate_ca, root_ca, client_identity
):
    new = intermediate_ca.issue_server("localhost", "127.0.0.1")
    result = rotation.swap_under_load(
        running, new, identity=client_identity, trust=root_ca, threads=4, requests_per_thread=15
    )
    assert result.requests == 60
    assert result.failed == 0, result.errors
    assert result.old_served + result.new_served == 60


def test_swap_under_load_serves_both_certificates_and_only_the_new_one_after(
    running, intermediate_ca, root_ca, client_identity
):
    new = intermediate_ca.issue_server("localhost", "127.0.0.1")
    result = rotation.swap_under_load(
        running,
        new,
        identity=client_identity,
        trust=root_ca,
        threads=3,
        requests_per_thread=10,
        swap_after=10,
    )
    assert result.old_served >= 10
    assert result.new_served >= 1
    assert result.stale_after_swap == 0
    assert "0 failed" in str(result)


def test_new_connection_after_swap_sees_the_new_certificate(
    running, intermediate_ca, root_ca, client_identity
):
    new = intermediate_ca.issue_server("localhost", "127.0.0.1")
    running.set_certificate(new)
    call = rotation.served_certificate(running, client_identity, root_ca)
    assert call.status == 200
    assert thumbprint(call.served) == thumbprint(new.cert)


def test_connection_open_before_the_swap_keeps_the_old_certificate(
    running, intermediate_ca, root_ca, client_identity, server_identity
):
    new = intermediate_ca.issue_server("localhost", "127.0.0.1")
    report = rotation.open_connection_after_swap(
        running, new, identity=client_identity, trust=root_ca
    )
    assert report.open_status == 200
    assert thumbprint(report.open_after) == thumbprint(server_identity.cert)
    assert thumbprint(report.new_after) == thumbprint(new.cert)
    assert report.open_kept_old and report.new_got_new


def test_served_certificate_reports_a_refused_call_instead_of_raising(
    running, unrelated_ca, root_ca
):
    stranger = unrelated_ca.issue_client("mallory")
    call = rotation.served_certificate(running, stranger, root_ca)
    assert not call.ok
    assert call.error


def test_file_watcher_swaps_when_the_files_change(
    running, intermediate_ca, root_ca, client_identity, server_identity, tmp_path
):
    crt, key = server_identity.write(tmp_path / "server")
    new = intermediate_ca.issue_server("localhost", "127.0.0.1")
    with rotation.CertificateFileWatcher(running, crt, key, poll=0.05) as watcher:
        rotation.replace_files(new, tmp_path / "server")
        assert watcher.wait_for_reload(1, timeout=10)
    call = rotation.served_certificate(running, client_identity, root_ca)
    assert thumbprint(call.served) == thumbprint(new.cert)


def test_file_watcher_keeps_the_old_certificate_while_the_pair_does_not_match(
    running, intermediate_ca, root_ca, client_identity, server_identity, tmp_path
):
    crt, key = server_identity.write(tmp_path / "server")
    new = intermediate_ca.issue_server("localhost", "127.0.0.1")
    watcher = rotation.CertificateFileWatcher(running, crt, key)
    key.write_bytes(new.key_pem())  # the renewal tool wrote the key, not yet the certificate
    os.utime(key, ns=(os.stat(key).st_mtime_ns + 10**9,) * 2)
    assert watcher.check_now() is False
    assert "does not belong" in watcher.refused[-1]
    call = rotation.served_certificate(running, client_identity, root_ca)
    assert call.status == 200
    assert thumbprint(call.served) == thumbprint(server_identity.cert)
    crt.write_bytes(new.chain_pem)  # now the pair is complete
    os.utime(crt, ns=(os.stat(crt).st_mtime_ns + 10**9,) * 2)
    assert watcher.check_now() is True
    assert thumbprint(
        rotation.served_certificate(running, client_identity, root_ca).served
    ) == thumbprint(new.cert)


def test_replace_files_leaves_no_temporary_files_and_keeps_the_key_private(
    intermediate_ca, tmp_path
):
    new = intermediate_ca.issue_server("localhost")
    crt, key = rotation.replace_files(new, tmp_path / "server")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["server.crt", "server.key"]
    assert oct(key.stat().st_mode & 0o777) == "0o600"
