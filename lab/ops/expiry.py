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
from dataclasses import dataclass, field, replace
from pathlib import Path

from cryptography import x509

from lab.errors import LabError, MissingFileError
from lab.paths import show
from lab.pki import (
    CERT_SUFFIXES,
    PASSWORD_FILE,
    PFX_SUFFIXES,
    load_certificates,
    load_pkcs12,
    read_password,
)
from lab.pki.certinfo import common_name, days_left, is_ca, role
from lab.pki.fields import utcnow
from lab.revocation.crl import load_crls, reason_name, revoked_reason
from lab.revocation.freshness import freshness

OK, WARN, EXPIRED, NOT_YET_VALID = "ok", "WARN", "EXPIRED", "NOT YET VALID"
UNREADABLE, REVOKED, STALE = "UNREADABLE", "REVOKED", "STALE"
CRL_SUFFIXES = (".crl",)
#: What each freshness state means for the CRL's row (the DAYS column has the number).
CRL_STATES = {
    "fresh": "fresh until its nextUpdate",
    "due": "in the last quarter of its window: publish the next one now (pki crl)",
    "stale": "past its nextUpdate: verifiers that check it refuse every client",
}


@dataclass(frozen=True)
class CertificateStatus:
    """One certificate file, judged against a warning window."""

    file: Path
    state: str
    role: str = "-"
    subject: str = ""
    days_left: int | None = None
    detail: str = ""

    @property
    def needs_attention(self) -> bool:
        return self.state != OK


def judge(
    certs: list[x509.Certificate], path: Path, *, now: _dt.datetime, warn_days: float
) -> CertificateStatus:
    """The status of a file holding ``certs`` (leaf first, then its chain)."""
    leaf = certs[0]
    first = min(certs, key=lambda c: c.not_valid_after_utc)
    not_after = first.not_valid_after_utc
    detail = (
        ""
        if first is leaf
        else f"its chain certificate {common_name(first.subject)!r} expires first"
    )
    left = days_left(not_after, now)
    if now >= not_after:
        state = EXPIRED
    elif now < max(c.not_valid_before_utc for c in certs):
        state = NOT_YET_VALID
    elif not_after - now < _dt.timedelta(days=warn_days):
        state = WARN
    else:
        state = OK
    return CertificateStatus(path, state, role(leaf), leaf.subject.rfc4514_string(), left, detail)


def judge_crl(
    crl: x509.CertificateRevocationList, path: Path, *, now: _dt.datetime
) -> CertificateStatus:
    """One CRL: STALE past its nextUpdate, WARN in the last quarter of its window (due)."""
    fresh = freshness(crl, now=now)
    state = {"stale": STALE, "due": WARN}.get(fresh.state, OK)
    meaning = CRL_STATES.get(fresh.state, str(fresh))
    if now < crl.last_update_utc:
        state, meaning = (
            NOT_YET_VALID,
            "its thisUpdate is still ahead (a clock, or a CRL signed early)",
        )
    left = None if fresh.next_update is None else days_left(fresh.next_update, now)
    detail = f"{len(crl)} revoked; {meaning}"
    return CertificateStatus(path, state, "CRL", crl.issuer.rfc4514_string(), left, detail)


def revoked(status: CertificateStatus, leaf: x509.Certificate, crls) -> CertificateStatus:
    """``status``, or REVOKED when a CRL of the leaf's own CA lists its serial number."""
    for crl in crls:
        if crl.issuer != leaf.issuer:
            continue
        entry = crl.get_revoked_certificate_by_serial_number(leaf.serial_number)
        if entry is not None:
            when = entry.revocation_date_utc.strftime("%Y-%m-%d %H:%M UTC")
            why = reason_name(revoked_reason(entry))
            detail = f"revoked {when}, {why}" + (f"; {status.detail}" if status.detail else "")
            return replace(status, state=REVOKED, detail=detail)
    return status


def _is_crl_file(path: Path) -> bool:
    """A file that held no certificate: a .crl, or PEM with a CRL block (crl.pem)."""
    if path.suffix.lower() in CRL_SUFFIXES:
        return True
    try:
        data = path.read_bytes()
    except OSError:
        return False
    return b"-----BEGIN X509 CRL-----" in data


def _read(path: Path, password: str | None) -> list[x509.Certificate] | CertificateStatus | None:
    """The certificates in ``path`` (leaf first), or its UNREADABLE status, or None."""
    if path.suffix.lower() in CRL_SUFFIXES:
        return None
    try:
        if path.suffix.lower() in PFX_SUFFIXES:
            pw = password if password is not None else read_password(path.parent)
            if pw is None:
                return CertificateStatus(
                    path,
                    UNREADABLE,
                    detail=(
                        f"encrypted .pfx and no password: put it in {PASSWORD_FILE} beside it or pass --password"
                    ),
                )
            ident = load_pkcs12(path, pw)
            certs = [ident.cert, *ident.chain]
        else:
            data = path.read_bytes()
            if b"-----BEGIN" in data and b"-----BEGIN CERTIFICATE-----" not in data:
                return None  # a private key, CRL or CSR in PEM: not ours to judge
            certs = load_certificates(path)
    except LabError as exc:  # the file name is in its own column: keep the message short
        return CertificateStatus(path, UNREADABLE, detail=str(exc).replace(str(path), path.name))
    except OSError as exc:
        return CertificateStatus(
            path, UNREADABLE, detail=f"cannot read the file: {exc.strerror or exc}"
        )
    if not certs:
        return CertificateStatus(path, UNREADABLE, detail="no certificate in the file")
    return certs


@dataclass
class StatusReport:
    """The outcome of :func:`scan`: one entry per certificate file, and the exit code it implies."""

    directory: Path
    warn_days: float
    entries: list[CertificateStatus] = field(default_factory=list)

    @property
    def problems(self) -> list[CertificateStatus]:
        return [e for e in self.entries if e.needs_attention]

    @property
    def exit_code(self) -> int:
        """0 when every certificate is readable and valid beyond the window, else 1."""
        return 1 if self.problems else 0

    def as_text(self, *, relative_to: Path | None = None) -> str:
        base = relative_to or self.directory
        rows = [("STATUS", "DAYS", "ROLE", "FILE", "SUBJECT")]
        for e in self.entries:
            try:
                name = str(e.file.relative_to(base))
            except ValueError:
                name = show(e.file)
            days = "-" if e.days_left is None else str(e.days_left)
            what = e.subject if e.state != UNREADABLE else e.detail
            if e.detail and e.state != UNREADABLE:
                what += f" ({e.detail})"
            rows.append((e.state, days, e.role, name, what))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = [
            f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]:<{widths[3]}}  {r[4]}"
            for r in rows
        ]
        lines.append(self.summary())
        return "\n".join(lines)

    def summary(self) -> str:
        certificates = [e for e in self.entries if e.role != "CRL"]
        crls = [e for e in self.entries if e.role == "CRL"]
        counts = {
            s: sum(1 for e in certificates if e.state == s)
            for s in (EXPIRED, NOT_YET_VALID, WARN, UNREADABLE, REVOKED)
        }
        n = len(certificates)
        head = f"{n} certificate file{'s' if n != 1 else ''}"
        if crls:
            head += f" and {len(crls)} CRL{'s' if len(crls) != 1 else ''}"
        head += f" checked (warning window {self.warn_days:g} days)"
        if not self.problems:
            return f"{head}: all valid beyond the window"
        parts = [
            f"{counts[REVOKED]} revoked",
            f"{counts[EXPIRED]} expired",
            f"{counts[WARN]} expiring within {self.warn_days:g} days",
            f"{counts[NOT_YET_VALID]} not yet valid",
            f"{counts[UNREADABLE]} unreadable",
            _crls(sum(e.state == STALE for e in crls), "stale {}"),
            _crls(sum(e.state == WARN for e in crls), "{} due for re-signing"),
            _crls(sum(e.state in (UNREADABLE, NOT_YET_VALID) for e in crls), "unusable {}"),
        ]
        return f"{head}: " + ", ".join(p for p in parts if not p.startswith("0 "))

    __str__ = __repr__ = as_text


def _crls(n: int, phrase: str) -> str:
    return f"{n} " + phrase.format("CRL" if n == 1 else "CRLs")


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
    if warn_days < 0:
        raise ValueError("warn_days must be 0 or more")
    now = now or utcnow(exact=True)
    report = StatusReport(d, warn_days)
    judged: list[tuple[CertificateStatus, x509.Certificate | None]] = []
    cas: list[x509.Certificate] = []
    crl_paths: list[Path] = []
    suffixes = CERT_SUFFIXES + PFX_SUFFIXES + CRL_SUFFIXES
    for path in sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in suffixes):
        loaded = _read(path, password)
        if isinstance(loaded, list):
            cas += [c for c in loaded if is_ca(c)]
            judged.append((judge(loaded, path, now=now, warn_days=warn_days), loaded[0]))
        elif loaded is not None:
            judged.append((loaded, None))
        elif _is_crl_file(path):  # read once more only when it held no certificate
            crl_paths.append(path)
    crls, crl_rows = [], []
    for path in crl_paths:
        try:
            found = load_crls(path, cas)
        except LabError as exc:
            detail = str(exc).replace(str(path), path.name)
            crl_rows.append(CertificateStatus(path, UNREADABLE, "CRL", detail=detail))
            continue
        crls += found
        crl_rows += [judge_crl(crl, path, now=now) for crl in found]
    report.entries = [
        status if leaf is None else revoked(status, leaf, crls) for status, leaf in judged
    ]
    report.entries = sorted(report.entries + crl_rows, key=lambda e: e.file.name)
    if not any(e.role != "CRL" for e in report.entries):
        raise MissingFileError(
            f"no certificate files (*.crt, *.pem, *.cer, *.der, *.pfx) in {show(d)}; check --dir "
            f"(a monitor that finds nothing must not report success)"
        )
    return report


__all__ = ["CertificateStatus", "StatusReport", "judge", "judge_crl", "revoked", "scan"]
