"""Self-check for notebook 01's exercise: a second client certificate."""

from __future__ import annotations

from lab.course.check import report
from lab.pki.certinfo import eku_names
from lab.pki.verify import verify_chain


def exercise_second_client(cert, ca) -> bool:
    """bob: CN=bob, EKU clientAuth only, email SAN bob@lab.test, chains to ``ca``, not a CA."""
    if cert is None:
        return report(
            False, "", "issue the certificate with issuing.issue_client(...) and assign it to bob2"
        )
    leaf = getattr(cert, "cert", cert)
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    cn = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not cn or cn[0].value != "bob":
        return report(
            False, "", "the subject's CN should be bob (the first argument of issue_client)"
        )
    if eku_names(leaf) != ["clientAuth"]:
        return report(
            False,
            "",
            "a client certificate should carry the clientAuth EKU only; issue it with issue_client, not issue_server",
        )
    try:
        emails = leaf.extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        ).value.get_values_for_type(x509.RFC822Name)
    except x509.ExtensionNotFound:
        emails = []
    if "bob@lab.test" not in emails:
        return report(
            False, "", "the SAN should hold the email address: pass email=... to issue_client"
        )
    result = verify_chain(cert, ca, purpose="client")
    if not result.ok:
        return report(
            False,
            "",
            f"the chain does not verify ({result.reason}); issue it from the issuing CA object",
        )
    return report(
        True,
        "bob's certificate is a proper client certificate: clientAuth only, email SAN, chains to the root",
        "",
    )
