"""lab.expiry and ``python -m lab pki status``: expiry monitoring whose exit code is the alert."""

from __future__ import annotations

import datetime as _dt

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from lab.errors import MissingFileError
from lab.ops import expiry
from lab.pki import CertificateAuthority, certinfo
from lab.revocation import Revocations
from lab.revocation.crl import Revoked

NOW = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)  # certificates carry whole seconds


@pytest.fixture(autouse=True, scope="module")
def _now_is_when_this_module_runs():
    """NOW is read when these tests start, not at collection: a long test before them (the
    browser run takes minutes) would otherwise leave NOW older than the CAs' backdated start."""
    global NOW
    NOW = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)


# ------------------------------------------------------------ the CLI, end to end
def test_status_exit_code_follows_a_three_day_client_certificate(run_lab, tmp_path):
    pki_dir = tmp_path / "pki"
    assert run_lab("pki", "init", "--dir", pki_dir).rc == 0

    clean = run_lab("pki", "status", "--dir", pki_dir, "--warn-days", "30")
    assert clean.rc == 0, clean.stdout + clean.stderr
    assert "all valid beyond the window" in clean.stdout

    assert run_lab("pki", "issue", "client", "shortlived", "--days", "3", "--dir", pki_dir).rc == 0
    warned = run_lab("pki", "status", "--dir", pki_dir, "--warn-days", "30")
    assert warned.rc == 1
    assert any(
        line.startswith("WARN") and "shortlived.crt" in line for line in warned.stdout.splitlines()
    )

    for suffix in (".crt", ".key", ".pfx"):
        (pki_dir / f"shortlived{suffix}").unlink()
    again = run_lab("pki", "status", "--dir", pki_dir, "--warn-days", "30")
    assert again.rc == 0, again.stdout


def test_status_lists_every_certificate_with_role_and_days_left(run_lab, shared_course_dir):
    out = run_lab("pki", "status", "--dir", shared_course_dir).stdout.splitlines()
    rows = {name: line for line in out for name in line.split() if "." in name and "=" not in name}
    assert set(rows) == {"rootCA.pem", "server.crt", "server.pfx", "client.crt", "client.pfx"}
    assert "  root CA  " in rows["rootCA.pem"]
    assert "  server  " in rows["server.crt"] and "  client  " in rows["client.crt"]
    assert rows["server.crt"].split()[:2] == ["ok", "364"]


def test_status_prints_a_clear_line_for_an_unreadable_file_and_fails(run_lab, course_dir):
    pki_dir = course_dir
    (pki_dir / "truncated.crt").write_text("-----BEGIN CERTIFICATE-----\nMIIB\n")
    result = run_lab("pki", "status", "--dir", pki_dir, "--warn-days", "0")
    assert result.rc == 1
    line = next(line for line in result.stdout.splitlines() if "truncated.crt" in line)
    assert line.startswith("UNREADABLE") and "re-copy it, or re-issue it" in line
    assert not result.has_traceback


def test_status_on_a_missing_folder_is_one_error_line(run_lab, tmp_path):
    result = run_lab("pki", "status", "--dir", tmp_path / "nowhere")
    assert result.rc == 1
    assert result.stderr.startswith("error: ") and "is not a folder" in result.stderr
    assert not result.has_traceback


def test_status_refuses_a_negative_warning_window(run_lab, tmp_path):
    result = run_lab("pki", "status", "--dir", tmp_path, "--warn-days", "-1")
    assert result.rc == 2


# ------------------------------------------------------------------ the module
def test_expired_certificate_is_reported_with_negative_days(intermediate_ca, tmp_path):
    intermediate_ca.issue_client("old", expired=True).write(tmp_path / "old")
    report = expiry.scan(tmp_path, now=NOW)
    (entry,) = report.entries
    assert entry.state == expiry.EXPIRED and entry.days_left < 0
    assert report.exit_code == 1


def test_not_yet_valid_certificate_needs_attention(intermediate_ca, tmp_path):
    intermediate_ca.issue_client("future", not_yet_valid=True).write(tmp_path / "future")
    assert expiry.scan(tmp_path, now=NOW).entries[0].state == expiry.NOT_YET_VALID


def test_warning_window_boundary(intermediate_ca, tmp_path):
    intermediate_ca.issue_client("c", not_before=NOW, not_after=NOW + _dt.timedelta(days=10)).write(
        tmp_path / "c"
    )
    assert expiry.scan(tmp_path, now=NOW, warn_days=10).exit_code == 0
    assert expiry.scan(tmp_path, now=NOW + _dt.timedelta(seconds=1), warn_days=10).exit_code == 1


def test_file_expires_with_its_earliest_chain_certificate(root_ca, tmp_path):
    short_ca = root_ca.create_intermediate("Short Issuing CA")  # five years
    short_ca.issue_server("localhost", days=3650).write(tmp_path / "server")  # ten
    later = short_ca.cert.not_valid_after_utc - _dt.timedelta(days=3)
    (entry,) = expiry.scan(tmp_path, now=later).entries
    assert entry.state == expiry.WARN and entry.days_left <= 5
    assert "Short Issuing CA" in entry.detail


def test_keys_and_other_files_are_not_mistaken_for_certificates(intermediate_ca, tmp_path):
    intermediate_ca.issue_client("alice").write(tmp_path / "alice")
    (tmp_path / "key-as.pem").write_bytes(intermediate_ca.key_pem())
    (tmp_path / "request.pem").write_text(
        "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"
    )
    (tmp_path / "notes.txt").write_text("hello")
    report = expiry.scan(tmp_path, now=NOW)
    assert [e.file.name for e in report.entries] == ["alice.crt"]
    assert report.exit_code == 0


def test_a_damaged_crl_is_unreadable_not_skipped(intermediate_ca, tmp_path):
    """A monitor that cannot read the CRL cannot say that nothing in the folder is revoked."""
    intermediate_ca.issue_client("alice").write(tmp_path / "alice")
    (tmp_path / "crl.pem").write_text("-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n")
    report = expiry.scan(tmp_path, now=NOW)
    assert [(e.file.name, e.state, e.role) for e in report.entries] == [
        ("alice.crt", expiry.OK, "client"),
        ("crl.pem", expiry.UNREADABLE, "CRL"),
    ]
    assert report.exit_code == 1
    assert report.summary().endswith("1 unusable CRL")


# ------------------------------------------------------------------ revocation
def test_status_marks_what_pki_revoke_revoked(run_lab, tmp_path):
    pki_dir = tmp_path / "pki"
    assert run_lab("pki", "init", "--dir", pki_dir).rc == 0
    assert run_lab("pki", "issue", "client", "alice", "--dir", pki_dir).rc == 0
    assert run_lab("pki", "revoke", "alice", "--reason", "keyCompromise", "--dir", pki_dir).rc == 0

    status = run_lab("pki", "status", "--dir", pki_dir)
    assert status.rc == 1, status.stdout + status.stderr
    rows = {line.split()[3]: line for line in status.stdout.splitlines()[1:-1]}
    for name in ("alice.crt", "alice.pfx"):
        assert rows[name].startswith("REVOKED") and "keyCompromise" in rows[name]
    assert rows["client.crt"].startswith("ok")
    # the CRL's DAYS and its words round alike: never 6 in one and 7 in the other
    assert rows["crl.pem"].split()[:3] == ["ok", "7", "CRL"]
    assert "fresh: 7 days until nextUpdate" in rows["crl.pem"]
    assert status.stdout.splitlines()[-1].endswith("checked (warning window 30 days): 2 revoked")
    assert "7 certificate files and 1 CRL" in status.stdout

    for suffix in (".crt", ".key", ".pfx"):
        (pki_dir / f"alice{suffix}").unlink()
    clean = run_lab("pki", "status", "--dir", pki_dir)
    assert clean.rc == 0 and "all valid beyond the window" in clean.stdout


def _crl(ca, path, *, revoke=(), issued, next_update):
    # by serial: a forger's CRL lists certificates its key never signed
    serials = [cert if isinstance(cert, int) else cert.cert.serial_number for cert in revoke]
    record = Revocations(ca, [Revoked(s, x509.ReasonFlags.unspecified, issued) for s in serials])
    record.write_crl(path, this_update=issued, next_update=next_update)


@pytest.mark.parametrize(
    "issued_days_ago, next_update_in_days, state",
    [(1, 6, expiry.OK), (6, 1, expiry.WARN), (8, -1, expiry.STALE), (-1, 6, expiry.NOT_YET_VALID)],
)
def test_a_crl_is_stale_past_its_next_update_and_warns_in_its_last_quarter(
    root_ca, tmp_path, issued_days_ago, next_update_in_days, state
):
    root_ca.write(tmp_path / "rootCA")
    day = _dt.timedelta(days=1)
    _crl(
        root_ca,
        tmp_path / "crl.pem",
        issued=NOW - issued_days_ago * day,
        next_update=NOW + next_update_in_days * day,
    )
    report = expiry.scan(tmp_path, now=NOW)
    (crl,) = [e for e in report.entries if e.role == "CRL"]
    assert crl.state == state
    assert report.exit_code == (0 if state == expiry.OK else 1)
    if state == expiry.NOT_YET_VALID:
        assert (
            crl.detail
            == "0 revoked; its thisUpdate is still ahead (a clock, or a CRL signed early)"
        )
    if state == expiry.STALE:
        assert crl.detail == (
            "0 revoked; stale: nextUpdate passed 24 hours ago; verifiers that check it refuse every client"
        )
        assert crl.days_left == -1  # rounded as the words round them: one day past
        assert report.summary().endswith("1 stale CRL")


def test_a_crl_counts_only_when_a_ca_in_the_folder_signed_it(root_ca, tmp_path):
    """A forged CRL (another key, the same CA name) revokes nothing and is reported."""
    root_ca.write(tmp_path / "rootCA")
    alice = root_ca.issue_client("alice")
    alice.write(tmp_path / "alice")
    forger = CertificateAuthority.create(
        root_ca.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    )
    _crl(
        forger, tmp_path / "crl.pem", revoke=[alice], issued=NOW, next_update=NOW + _dt.timedelta(7)
    )
    report = expiry.scan(tmp_path, now=NOW)
    states = {e.file.name: e.state for e in report.entries}
    assert states == {"alice.crt": expiry.OK, "crl.pem": expiry.UNREADABLE, "rootCA.pem": expiry.OK}
    (crl,) = [e for e in report.entries if e.file.name == "crl.pem"]
    assert "not signed by a trusted CA" in crl.detail
    assert report.exit_code == 1


def test_a_crl_revokes_only_certificates_of_its_own_ca(root_ca, intermediate_ca, tmp_path):
    """Serial numbers are unique per CA, not across CAs (RFC 5280 §4.1.2.2)."""
    root_ca.write(tmp_path / "rootCA")
    (tmp_path / "issuing.pem").write_bytes(intermediate_ca.cert_pem)
    alice = intermediate_ca.issue_client("alice")
    alice.write(tmp_path / "alice")
    # the root revokes a serial equal to alice's: not alice, whose issuer is the intermediate
    _crl(
        root_ca,
        tmp_path / "crl.pem",
        revoke=[alice.cert.serial_number],
        issued=NOW,
        next_update=NOW + _dt.timedelta(7),
    )
    report = expiry.scan(tmp_path, now=NOW)
    assert {e.file.name: e.state for e in report.entries}["alice.crt"] == expiry.OK
    _crl(
        intermediate_ca,
        tmp_path / "crl.pem",
        revoke=[alice],
        issued=NOW,
        next_update=NOW + _dt.timedelta(7),
    )
    report = expiry.scan(tmp_path, now=NOW)
    assert {e.file.name: e.state for e in report.entries}["alice.crt"] == expiry.REVOKED


def test_pfx_without_a_password_is_unreadable_not_skipped(intermediate_ca, tmp_path):
    intermediate_ca.issue_client("alice").to_pkcs12(tmp_path / "alice.pfx", "secret-pw")
    (entry,) = expiry.scan(tmp_path, now=NOW).entries
    assert entry.state == expiry.UNREADABLE and "password" in entry.detail
    assert expiry.scan(tmp_path, now=NOW, password="secret-pw").entries[0].state == expiry.OK


def test_roles(root_ca, intermediate_ca, server_identity, client_identity):
    assert certinfo.role(root_ca.cert) == "root CA"
    assert certinfo.role(intermediate_ca.cert) == "intermediate CA"
    assert certinfo.role(server_identity.cert) == "server"
    assert certinfo.role(client_identity.cert) == "client"
    assert (
        certinfo.role(intermediate_ca.issue_client("x", eku=["serverAuth", "clientAuth"]).cert)
        == "server+client"
    )
    assert certinfo.role(intermediate_ca.issue_client("y", eku=None).cert) == "leaf (any use)"


def test_a_folder_without_certificates_is_an_error_not_a_success(tmp_path):
    (tmp_path / "readme.txt").write_text("nothing here")
    with pytest.raises(MissingFileError, match="must not report success"):
        expiry.scan(tmp_path)
