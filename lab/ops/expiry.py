"""Expiry monitoring: every certificate in a folder, its role, and how many days it has left.

Why: an expired certificate is the classic mTLS outage, and the date was in the
certificate all along. A check that runs every day (cron, a CI job, a Kubernetes
CronJob) and *fails* when something is inside the warning window turns that date
into an alert weeks ahead. :func:`scan` is that check; ``python -m lab pki status``
prints it and exits 1 when anything needs attention, so the exit code is the alert.

What counts as "needs attention": expired, not yet valid, inside the warning
window, or a file the check cannot read (a monitor that cannot read a file
cannot vouch for it). A certificate file's effective expiry is the earliest
``notAfter`` of everything in it: a valid leaf sent with an expired intermediate
fails the handshake just the same.

Revocation too, from the CRLs in the folder (``crl.pem``, which ``pki revoke`` writes):
a certificate its CA has revoked is REVOKED, however many days it has left, and a CRL
past its nextUpdate is STALE, because OpenSSL and nginx then refuse *every* certificate
under that CA ("CRL has expired"). A CRL counts only when a CA certificate in the folder
signed it; one that cannot be checked is UNREADABLE, like any file the monitor cannot
vouch for.
"""

from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass, replace
from pathlib import Path

from cryptography import x509

from lab.errors import LabError, MissingFileError
from lab.paths import show
from lab.pki import CERT_SUFFIXES, PFX_SUFFIXES, load_certificates, open_pfx
from lab.pki.certinfo import common_name, days_left, is_ca, role
from lab.pki.fields import utcnow
from lab.revocation.crl import load_crls, reason_name, revoked_reason
from lab.revocation.freshness import freshness

OK, WARN, EXPIRED, NOT_YET_VALID = "ok", "WARN", "EXPIRED", "NOT YET VALID"
UNREADABLE, REVOKED, STALE = "UNREADABLE", "REVOKED", "STALE"
CRL_SUFFIX = ".crl"


@dataclass(frozen=True)
class CertificateStatus:
    """One certificate file (or CRL), judged against a warning window."""

    file: Path
    state: str
    role: str = "-"
    subject: str = ""
    days_left: int | None = None
    detail: str = ""


def judge(certs: list[x509.Certificate], path: Path, now, warn_days: float) -> CertificateStatus:
    """The status of a file holding ``certs`` (leaf first, then its chain)."""
    leaf = certs[0]
    first = min(certs, key=lambda c: c.not_valid_after_utc)
    not_after = first.not_valid_after_utc
    detail = (
        ""
        if first is leaf
        else f"its chain certificate {common_name(first.subject)!r} expires first"
    )
    if now >= not_after:
        state = EXPIRED
    elif now < max(c.not_valid_before_utc for c in certs):
        state = NOT_YET_VALID
    elif not_after - now < _dt.timedelta(days=warn_days):
        state = WARN
    else:
        state = OK
    subject = leaf.subject.rfc4514_string()
    return CertificateStatus(path, state, role(leaf), subject, days_left(not_after, now), detail)


def judge_crl(crl: x509.CertificateRevocationList, path: Path, now) -> CertificateStatus:
    """One CRL: STALE past its nextUpdate, WARN in the last quarter of its window (due)."""
    fresh = freshness(crl, now=now)
    state = {"stale": STALE, "due": WARN}.get(fresh.state, OK)
    meaning = str(fresh)  # its state and the time to or since its nextUpdate
    if now < crl.last_update_utc:
        state, meaning = (
            NOT_YET_VALID,
            "its thisUpdate is still ahead (a clock, or a CRL signed early)",
        )
    # rounded as its wording rounds them, so the row never says 6 in DAYS and 7 in words
    left = None if fresh.remaining is None else round(fresh.remaining / _dt.timedelta(days=1))
    detail = f"{len(crl)} revoked; {meaning}"
    return CertificateStatus(path, state, "CRL", crl.issuer.rfc4514_string(), left, detail)


def revoked(status: CertificateStatus, leaf: x509.Certificate, crls) -> CertificateStatus:
    """``status``, or REVOKED when a CRL of the leaf's own CA lists its serial number."""
    for crl in crls:
        entry = crl.issuer == leaf.issuer and crl.get_revoked_certificate_by_serial_number(
            leaf.serial_number
        )
        if entry:
            when = entry.revocation_date_utc.strftime("%Y-%m-%d %H:%M UTC")
            why = reason_name(revoked_reason(entry))
            detail = f"revoked {when}, {why}" + (f"; {status.detail}" if status.detail else "")
            return replace(status, state=REVOKED, detail=detail)
    return status


def _read(path: Path, password: str | None) -> list[x509.Certificate] | str | None:
    """The certificates in ``path`` (leaf first), why it is unreadable, or None (no certificate:
    a private key, CRL or CSR)."""
    try:
        if path.suffix.lower() in PFX_SUFFIXES:
            ident = open_pfx(path, password)
            return [ident.cert, *ident.chain]
        data = path.read_bytes()
        if b"-----BEGIN" in data and b"-----BEGIN CERTIFICATE-----" not in data:
            return None
        return load_certificates(path)
    except LabError as exc:  # the file name is in its own column: keep the message short
        return str(exc).replace(str(path), path.name)
    except OSError as exc:
        return f"cannot read the file: {exc.strerror or exc}"


@dataclass
class StatusReport:
    """The outcome of :func:`scan`: one entry per certificate file, and the exit code it implies."""

    warn_days: float
    entries: list[CertificateStatus]

    @property
    def exit_code(self) -> int:
        """0 when every certificate is readable and valid beyond the window, else 1."""
        return 1 if any(e.state != OK for e in self.entries) else 0

    def rows(self) -> list[tuple[str, str, str, str, str]]:
        """(status, days, role, file, subject with the detail, or why it is unreadable) per entry."""
        rows = []
        for e in self.entries:
            what = e.detail if e.state == UNREADABLE else e.subject
            if e.detail and e.state != UNREADABLE:
                what += f" ({e.detail})"
            days = "-" if e.days_left is None else str(e.days_left)
            rows.append((e.state, days, e.role, e.file.name, what))
        return rows

    def summary(self) -> str:
        certs = [e.state for e in self.entries if e.role != "CRL"]
        crls = [e.state for e in self.entries if e.role == "CRL"]
        head = _plural(len(certs), "certificate file")
        head += f" and {_plural(len(crls), 'CRL')}" if crls else ""
        head += f" checked (warning window {self.warn_days:g} days)"
        if not self.exit_code:
            return f"{head}: all valid beyond the window"
        parts = [
            f"{certs.count(REVOKED)} revoked",
            f"{certs.count(EXPIRED)} expired",
            f"{certs.count(WARN)} expiring within {self.warn_days:g} days",
            f"{certs.count(NOT_YET_VALID)} not yet valid",
            f"{certs.count(UNREADABLE)} unreadable",
            _plural(crls.count(STALE), "stale CRL"),
            _plural(crls.count(WARN), "CRL") + " due for re-signing",
            _plural(crls.count(UNREADABLE) + crls.count(NOT_YET_VALID), "unusable CRL"),
        ]
        return f"{head}: " + ", ".join(p for p in parts if not p.startswith("0 "))


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def scan(
    directory: str | os.PathLike,
    *,
    warn_days: float = 30,
    now: _dt.datetime | None = None,
    password: str | None = None,
) -> StatusReport:
    """Check every certificate and CRL file directly in ``directory`` (not its subfolders).

    CRLs are read last, against every CA certificate found in the folder (a root, or the
    chain a leaf file carries), and then mark the certificates they list as REVOKED.
    """
    d = Path(directory)
    if not d.is_dir():
        raise MissingFileError(
            f"{show(d)} is not a folder; point --dir at the folder holding the certificates"
        )
    now = now or utcnow(exact=True)
    judged: list[tuple[CertificateStatus, x509.Certificate]] = []  # a status, and its leaf
    entries: list[CertificateStatus] = []
    cas, crl_paths, crls = [], [], []
    suffixes = (*CERT_SUFFIXES, *PFX_SUFFIXES, CRL_SUFFIX)
    for path in sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in suffixes):
        loaded = None if path.suffix.lower() == CRL_SUFFIX else _read(path, password)
        if isinstance(loaded, list):
            cas += [c for c in loaded if is_ca(c)]
            judged.append((judge(loaded, path, now, warn_days), loaded[0]))
        elif loaded is not None:
            entries.append(CertificateStatus(path, UNREADABLE, detail=loaded))
        elif path.suffix.lower() == CRL_SUFFIX or b"-----BEGIN X509 CRL-----" in path.read_bytes():
            crl_paths.append(path)  # a .crl, or PEM with a CRL block (crl.pem)
    for path in crl_paths:
        try:
            found = load_crls(path, cas)
        except LabError as exc:
            detail = str(exc).replace(str(path), path.name)
            entries.append(CertificateStatus(path, UNREADABLE, "CRL", detail=detail))
            continue
        crls += found
        entries += [judge_crl(crl, path, now) for crl in found]
    entries += [revoked(status, leaf, crls) for status, leaf in judged]
    if all(e.role == "CRL" for e in entries):
        raise MissingFileError(
            f"no certificate files (*.crt, *.pem, *.cer, *.der, *.pfx) in {show(d)}; check --dir "
            f"(a monitor that finds nothing must not report success)"
        )
    return StatusReport(warn_days, sorted(entries, key=lambda e: e.file.name))
