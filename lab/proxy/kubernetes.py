"""mTLS in Kubernetes, on paper but exact: ingress-nginx annotations and cert-manager manifests.

Why on paper: a cluster is out of scope for a laptop course, but the guide
promises "mTLS in Kubernetes", and the mapping is one to one with what notebook
07 runs for real. ingress-nginx *is* nginx: its ``auth-tls-*`` annotations
become the ``ssl_client_certificate`` / ``ssl_verify_client`` /
``ssl_verify_depth`` lines of :mod:`lab.proxy`, and
``auth-tls-pass-certificate-to-upstream`` forwards ``$ssl_client_escaped_cert``
in the ``ssl-client-cert`` header. cert-manager replaces ``pki init``: an Issuer
that *is* the CA, and one Certificate per server or client, with the same key
type, lifetime, names and usages the lab chose (read from the lab's own
certificates, so the manifests cannot drift from what the notebooks used).

YAML by PyYAML: :func:`to_yaml` is ``yaml.safe_dump_all``, which quotes every
string YAML could read as something else (``"on"`` would become the boolean true
in YAML 1.1, and Kubernetes annotation values must be strings), keeps the keys
in the order a manifest is written, and indents lists the way ``kubectl`` prints them.
"""

from __future__ import annotations

import re
from typing import Iterable

import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from lab.pki.certinfo import common_name, eku_names
from lab.proxy import VERIFY_CLIENT_MODES

ANNOTATION = "nginx.ingress.kubernetes.io/"
#: The headers ingress-nginx sets for the app (point lab.auth.forwarding at these).
INGRESS_CERT_HEADER = "ssl-client-cert"
INGRESS_VERIFY_HEADER = "ssl-client-verify"
INGRESS_DN_HEADER = "ssl-client-subject-dn"

CERT_MANAGER = "cert-manager.io/v1"


# ------------------------------------------------------------------ YAML out
class _ManifestDumper(yaml.SafeDumper):
    """SafeDumper that indents a list under its key (``tls:`` then ``  - hosts:``), as kubectl does."""

    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)


def to_yaml(documents: dict | Iterable[dict]) -> str:
    """One YAML document per manifest, separated by ``---`` (what ``kubectl apply -f`` reads)."""
    docs = [documents] if isinstance(documents, dict) else list(documents)
    return yaml.dump_all(
        docs,
        Dumper=_ManifestDumper,
        sort_keys=False,  # apiVersion, kind, metadata, spec: the order people read
        default_flow_style=False,
        allow_unicode=True,
        width=1000,  # never fold a long annotation value onto a second line
    )


# ------------------------------------------------------- from the lab's PKI
def private_key_spec(cert: x509.Certificate) -> dict:
    """cert-manager's ``privateKey`` for the same key type as ``cert``'s."""
    key = cert.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        return {"algorithm": "ECDSA", "size": key.curve.key_size}
    if isinstance(key, rsa.RSAPublicKey):
        return {"algorithm": "RSA", "size": key.key_size}
    if isinstance(key, ed25519.Ed25519PublicKey):
        return {"algorithm": "Ed25519"}
    raise ValueError(f"cert-manager has no private key type for {type(key).__name__}")


def duration(cert: x509.Certificate) -> str:
    """The certificate's lifetime as a cert-manager duration in whole hours (``8760h`` = 365 days)."""
    hours = round((cert.not_valid_after_utc - cert.not_valid_before_utc).total_seconds() / 3600)
    return f"{hours}h"


def usages(cert: x509.Certificate) -> list[str]:
    """cert-manager ``usages``: the KeyUsage bits and EKUs the lab put in ``cert``."""
    out = []
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        for attr, name in (
            ("digital_signature", "digital signature"),
            ("key_encipherment", "key encipherment"),
            ("key_cert_sign", "cert sign"),
            ("crl_sign", "crl sign"),
        ):
            if getattr(ku, attr):
                out.append(name)
    except x509.ExtensionNotFound:
        pass
    names = {"serverAuth": "server auth", "clientAuth": "client auth"}
    out += [names[e] for e in (eku_names(cert) or []) if e in names]
    return out


def _organizations(cert: x509.Certificate) -> list[str]:
    return [
        str(a.value) for a in cert.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)
    ]


def _sans(cert: x509.Certificate) -> dict:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return {}
    out = {}
    for field_name, kind in (
        ("dnsNames", x509.DNSName),
        ("ipAddresses", x509.IPAddress),
        ("emailAddresses", x509.RFC822Name),
        ("uris", x509.UniformResourceIdentifier),
    ):
        values = [str(v) for v in san.get_values_for_type(kind)]
        if values:
            out[field_name] = values
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _meta(name: str, namespace: str) -> dict:
    return {"name": name, "namespace": namespace}


def cert_manager_manifests(
    ca,
    server=None,
    clients: Iterable = (),
    *,
    namespace: str = "mtls-lab",
    renew_before: str = "720h",
) -> list[dict]:
    """Issuers and Certificates that make in-cluster what the lab's ``ca`` made on disk.

    1. a self-signed Issuer, only to bootstrap
    2. the root CA Certificate (isCA, same name, key type and lifetime as ``ca``)
    3. a CA Issuer that signs with it
    4. one Certificate for ``server`` and one per client, with their names and usages.
    """
    root = getattr(ca, "cert", ca)
    ca_name = _slug(common_name(root.subject))
    docs = [
        {
            "apiVersion": CERT_MANAGER,
            "kind": "Issuer",
            "metadata": _meta("selfsigned-bootstrap", namespace),
            "spec": {"selfSigned": {}},
        },
        {
            "apiVersion": CERT_MANAGER,
            "kind": "Certificate",
            "metadata": _meta(ca_name, namespace),
            "spec": {
                "isCA": True,
                "commonName": common_name(root.subject),
                "subject": {"organizations": _organizations(root)},
                "secretName": ca_name,
                "duration": duration(root),
                "privateKey": private_key_spec(root),
                "issuerRef": {
                    "name": "selfsigned-bootstrap",
                    "kind": "Issuer",
                    "group": "cert-manager.io",
                },
            },
        },
        {
            "apiVersion": CERT_MANAGER,
            "kind": "Issuer",
            "metadata": _meta(ca_name + "-issuer", namespace),
            "spec": {"ca": {"secretName": ca_name}},
        },
    ]
    leaves = ([server] if server is not None else []) + list(clients)
    for leaf in leaves:
        cert = getattr(leaf, "cert", leaf)
        cn = common_name(cert.subject)
        spec = {
            "secretName": _slug(cn) + "-tls",
            "commonName": cn,
            "subject": {"organizations": _organizations(cert)},
            **_sans(cert),
            "duration": duration(cert),
            "renewBefore": renew_before,
            "usages": usages(cert),
            "privateKey": {**private_key_spec(cert), "rotationPolicy": "Always"},
            "issuerRef": {
                "name": ca_name + "-issuer",
                "kind": "Issuer",
                "group": "cert-manager.io",
            },
        }
        docs.append(
            {
                "apiVersion": CERT_MANAGER,
                "kind": "Certificate",
                "metadata": _meta(_slug(cn), namespace),
                "spec": spec,
            }
        )
    return docs


def ingress(
    *,
    host: str = "api.lab.test",
    service: str = "secure-api",
    service_port: int = 443,
    namespace: str = "mtls-lab",
    ca_secret: str = "client-ca",
    tls_secret: str = "secure-api-tls",
    verify_client: str = "on",
    verify_depth: int = 1,
    pass_certificate: bool = True,
    backend_https: bool = True,
) -> dict:
    """The ingress-nginx Ingress that does what :class:`lab.proxy.NginxProxy` does."""
    if verify_client not in VERIFY_CLIENT_MODES:
        raise ValueError(f"verify_client must be one of {', '.join(VERIFY_CLIENT_MODES)}")
    annotations = {
        ANNOTATION + "auth-tls-secret": f"{namespace}/{ca_secret}",
        ANNOTATION + "auth-tls-verify-client": verify_client,
        ANNOTATION + "auth-tls-verify-depth": str(int(verify_depth)),
        ANNOTATION + "auth-tls-pass-certificate-to-upstream": "true"
        if pass_certificate
        else "false",
    }
    if backend_https:
        annotations[ANNOTATION + "backend-protocol"] = "HTTPS"
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {**_meta(service, namespace), "annotations": annotations},
        "spec": {
            "ingressClassName": "nginx",
            "tls": [{"hosts": [host], "secretName": tls_secret}],
            "rules": [
                {
                    "host": host,
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {
                                    "service": {"name": service, "port": {"number": service_port}}
                                },
                            }
                        ]
                    },
                }
            ],
        },
    }


def ingress_for(course, *, namespace: str = "mtls-lab", **options) -> dict:
    """The Ingress for the course PKI: verify depth from its chain, TLS secret from its server certificate."""
    depth = max(1, len(getattr(course.client, "chain", []) or []))
    server = course.server.cert
    tls_secret = _slug(common_name(server.subject)) + "-tls"
    host = (_sans(server).get("dnsNames") or [common_name(server.subject)])[0]
    options.setdefault("host", host)
    return ingress(namespace=namespace, verify_depth=depth, tls_secret=tls_secret, **options)
