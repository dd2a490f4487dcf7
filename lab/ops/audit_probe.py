"""The sslyze side of :mod:`lab.ops.audit`: a script run by the Python that has sslyze.

Why a separate script: sslyze 6.3.1 (the newest release) requires
``cryptography>=43,<47`` and the lab pins ``cryptography==50.0.2``, so sslyze lives
in its own virtual environment (``.venv/audit``, made by ``make audit-tools``) and
this file runs there: ``python lab/ops/audit_probe.py '{"host": ..., ...}'``. It imports
only the standard library and sslyze's public API, never ``lab``, and prints one
JSON object: the facts :class:`lab.ops.audit.Audit` shows.

Two scans run side by side: one without credentials, only to learn whether the
server asks for a client certificate (sslyze reports ``DISABLED`` once it has a
certificate to offer), and the full scan with the client certificate, which is
then checked against Mozilla's profile exactly as ``sslyze --mozilla_config`` does.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

#: The scans Mozilla's checker reads (sslyze 6.3.1, tls_config_checker.py); nothing else runs.
NEEDED = (
    "CERTIFICATE_INFO",
    "SSL_2_0_CIPHER_SUITES",
    "SSL_3_0_CIPHER_SUITES",
    "TLS_1_0_CIPHER_SUITES",
    "TLS_1_1_CIPHER_SUITES",
    "TLS_1_2_CIPHER_SUITES",
    "TLS_1_3_CIPHER_SUITES",
    "TLS_COMPRESSION",
    "OPENSSL_CCS_INJECTION",
    "TLS_FALLBACK_SCSV",
    "HEARTBLEED",
    "ROBOT",
    "SESSION_RENEGOTIATION",
    "ELLIPTIC_CURVES",
    "TLS_EXTENDED_MASTER_SECRET",
)
VERSIONS = (
    ("SSL 2.0", "ssl_2_0"),
    ("SSL 3.0", "ssl_3_0"),
    ("TLS 1.0", "tls_1_0"),
    ("TLS 1.1", "tls_1_1"),
    ("TLS 1.2", "tls_1_2"),
    ("TLS 1.3", "tls_1_3"),
)


def _sorted_sets(text: str) -> str:
    """sslyze prints Python sets ({'b', 'a'}), in a different order each run: sort them."""

    def fix(match):
        items = sorted(i.strip().strip("'\"") for i in match.group(1).split(",") if i.strip())
        return "{" + ", ".join(items) + "}"

    return re.sub(r"\{([^{}]*)\}", fix, text)


def _why(attempt) -> str:
    """A failed scan command in one line: sslyze's reason and the exception's last line."""
    trace = [line for line in str(attempt.error_trace or "").strip().splitlines() if line.strip()]
    return f"{attempt.error_reason.name}: {trace[-1].strip() if trace else 'no trace'}"


def _name(cert) -> str:
    from cryptography.x509.oid import NameOID

    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(cns[0].value) if cns else cert.subject.rfc4514_string()


def probe(host: str, port: int, cert: str, key: str, ca: str, profile: str) -> dict:
    import sslyze
    from sslyze.mozilla_tls_profile.tls_config_checker import (
        MozillaTlsConfiguration,
        ServerNotCompliantWithTlsConfiguration,
        TlsConfigurationEnum,
        check_server_against_tls_configuration,
    )

    location = sslyze.ServerNetworkLocation(hostname=host, port=port, ip_address=host)
    credentials = sslyze.ClientAuthenticationCredentials(
        certificate_chain_path=Path(cert), key_path=Path(key)
    )
    full = sslyze.ServerScanRequest(
        server_location=location,
        network_configuration=sslyze.ServerNetworkConfiguration(
            tls_server_name_indication=host, tls_client_auth_credentials=credentials
        ),
        scan_commands={getattr(sslyze.ScanCommand, name) for name in NEEDED},
        scan_commands_extra_arguments=sslyze.ScanCommandsExtraArguments(
            certificate_info=sslyze.CertificateInfoExtraArgument(custom_ca_file=Path(ca))
        ),
    )
    # Without a certificate: does the server refuse (REQUIRED) or wait for a request
    # (OPTIONAL, learned from a read timeout: 1 s is plenty on loopback, the default is 5)?
    anonymous = sslyze.ServerScanRequest(
        server_location=location,
        network_configuration=sslyze.ServerNetworkConfiguration(
            tls_server_name_indication=host, network_timeout=1
        ),
        scan_commands=set(),
    )
    scanner = sslyze.Scanner()
    scanner.queue_scans([full, anonymous])
    results = {r.uuid: r for r in scanner.get_results()}
    with_cert, without = results[full.uuid], results[anonymous.uuid]

    import sslyze.mozilla_tls_profile as bundled

    guidelines = sorted(p.stem for p in Path(bundled.__file__).parent.glob("*.json"))
    out: dict = {"profile": profile, "sslyze": _version(), "guideline": guidelines[-1]}
    out["client_auth"] = (
        without.connectivity_result.client_auth_requirement.name
        if without.connectivity_result
        else "NO_CONNECTION"
    )
    connected = with_cert.connectivity_status == sslyze.ServerConnectivityStatusEnum.COMPLETED
    out["connected_with_certificate"] = connected
    if not connected:
        out["error"] = str(with_cert.connectivity_error_trace).strip().splitlines()[-1:]
        return out

    scan = with_cert.scan_result
    out["protocols"], out["tls12_suites"], out["tls13_suites"] = [], [], []
    for label, field in VERSIONS:
        result = getattr(scan, f"{field}_cipher_suites").result
        if result and result.is_tls_version_supported:
            out["protocols"].append(label)
            names = sorted(s.cipher_suite.name for s in result.accepted_cipher_suites)
            if field == "tls_1_3":
                out["tls13_suites"] = names
            elif field == "tls_1_2":
                out["tls12_suites"] = names
            else:
                out.setdefault("legacy_suites", []).extend(names)
    curves = scan.elliptic_curves.result
    out["curves"] = sorted(c.name for c in (curves.supported_curves or []))
    deployment = scan.certificate_info.result.certificate_deployments[0]
    out["chain"] = [_name(c) for c in deployment.received_certificate_chain]
    out["anchor_sent"] = bool(deployment.received_chain_contains_anchor_certificate)
    out["chain_trusted"] = deployment.verified_certificate_chain is not None
    out["fallback_scsv"] = scan.tls_fallback_scsv.result.supports_fallback_scsv
    out["secure_renegotiation"] = scan.session_renegotiation.result.supports_secure_renegotiation
    out["extended_master_secret"] = scan.tls_extended_master_secret.result.supports_ems_extension
    out["compression"] = scan.tls_compression.result.supports_compression
    failed = {
        name.lower(): _why(getattr(scan, name.lower()))
        for name in NEEDED
        if getattr(scan, name.lower()).error_reason is not None
    }
    if failed:  # the checker would only say "incomplete"; say which scan failed, and why
        out["compliant"], out["issues"] = False, {f"scan_failed_{k}": v for k, v in failed.items()}
        return out
    try:
        check_server_against_tls_configuration(
            server_scan_result=with_cert,
            tls_config_to_check_against=MozillaTlsConfiguration.get(TlsConfigurationEnum(profile)),
        )
        out["compliant"], out["issues"] = True, {}
    except ServerNotCompliantWithTlsConfiguration as exc:
        out["compliant"] = False
        out["issues"] = {k: _sorted_sets(v) for k, v in sorted(exc.issues.items())}
    return out


def _version() -> str:
    from importlib.metadata import version

    return version("sslyze")


def main(argv: list[str]) -> int:
    args = json.loads(argv[1])
    print(
        json.dumps(
            probe(
                args["host"],
                int(args["port"]),
                args["cert"],
                args["key"],
                args["ca"],
                args.get("profile", "intermediate"),
            )
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
