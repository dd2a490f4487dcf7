"""mTLS at a Kubernetes Gateway (Gateway API v1.5, standard channel), on paper but exact.

Why this module: ingress-nginx, the controller :mod:`lab.proxy.kubernetes`
writes annotations for, is retired (best-effort maintenance ended in March
2026). Its successor is the Gateway API, where client-certificate validation at
the gateway ("frontend validation", GEP-91) is standard since v1.5.0:

* a **ConfigMap** holding the course CA as ``ca.crt`` (a CA certificate, never its key);
* a **Gateway** whose ``spec.tls.frontend.default.validation`` points at that
  ConfigMap with ``mode: AllowValidOnly`` (no valid client certificate, no
  connection), and an HTTPS listener that terminates TLS with the server's Secret;
* an **HTTPRoute** to the app's Service, and a **BackendTLSPolicy** so the
  gateway reaches the app over TLS and verifies it against the same CA;
* how the identity reaches the app is *not* in the Gateway API: each
  implementation has its own knob. For Envoy Gateway it is a
  **ClientTrafficPolicy** with ``spec.headers.xForwardedClientCert``
  (``SanitizeSet``: drop any client copy, set a fresh ``X-Forwarded-Client-Cert``);
* cert-manager **Certificates** for the server and the clients
  (:func:`lab.proxy.kubernetes.cert_manager_manifests`); the listener's Secret
  is the server Certificate's ``secretName``, so the references resolve.

The documents are plain dicts; :func:`to_yaml` writes them with
``yaml.safe_dump_all``. tests/test_gateway.py parses every document back.
"""

from __future__ import annotations

import re
from typing import Iterable

import yaml

from lab.pki.certinfo import common_name
from lab.proxy.kubernetes import cert_manager_manifests

GATEWAY_API = "gateway.networking.k8s.io/v1"
GATEWAY_API_RELEASE = "v1.5.1"  # standard channel: install its CRDs before these manifests
GATEWAY_GROUP = "gateway.networking.k8s.io"
ENVOY_GATEWAY = "gateway.envoyproxy.io/v1alpha1"
VALIDATION_MODES = ("AllowValidOnly", "AllowInsecureFallback")
#: Envoy Gateway's header for the forwarded certificate (Envoy's XFCC format).
XFCC_HEADER = "X-Forwarded-Client-Cert"


def _meta(name: str, namespace: str) -> dict:
    return {"name": name, "namespace": namespace}


def client_ca_configmap(ca, *, name: str = "client-ca", namespace: str = "mtls-lab") -> dict:
    """The ConfigMap ``caCertificateRefs`` points at: the CA certificate(s) under ``ca.crt``."""
    from lab.tls.contexts import trust_pem

    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(name, namespace),
        "data": {"ca.crt": trust_pem(ca)},
    }


def gateway(
    *,
    name: str = "secure-api",
    namespace: str = "mtls-lab",
    gateway_class: str = "eg",
    hostname: str = "localhost",
    tls_secret: str = "localhost-tls",
    ca_configmap: str = "client-ca",
    mode: str = "AllowValidOnly",
    port: int = 443,
) -> dict:
    """A Gateway that terminates TLS and requires a client certificate from ``ca_configmap``.

    Frontend validation is set per Gateway (``default``), not per listener: HTTP/2
    lets a client reuse one connection for another hostname the same certificate
    covers (connection coalescing), so the check has to hold for the whole port.
    """
    if mode not in VALIDATION_MODES:
        raise ValueError(f"mode must be one of {', '.join(VALIDATION_MODES)}, not {mode!r}")
    return {
        "apiVersion": GATEWAY_API,
        "kind": "Gateway",
        "metadata": _meta(name, namespace),
        "spec": {
            "gatewayClassName": gateway_class,
            "tls": {
                "frontend": {
                    "default": {
                        "validation": {
                            "caCertificateRefs": [
                                {"group": "", "kind": "ConfigMap", "name": ca_configmap}
                            ],
                            "mode": mode,
                        }
                    }
                }
            },
            "listeners": [
                {
                    "name": "https",
                    "protocol": "HTTPS",
                    "port": port,
                    "hostname": hostname,
                    "tls": {
                        "mode": "Terminate",
                        "certificateRefs": [{"group": "", "kind": "Secret", "name": tls_secret}],
                    },
                }
            ],
        },
    }


def http_route(
    *,
    name: str = "secure-api",
    namespace: str = "mtls-lab",
    gateway_name: str = "secure-api",
    hostname: str = "localhost",
    service: str = "secure-api",
    service_port: int = 443,
) -> dict:
    """Everything under ``/`` on the Gateway's HTTPS listener goes to the app's Service."""
    return {
        "apiVersion": GATEWAY_API,
        "kind": "HTTPRoute",
        "metadata": _meta(name, namespace),
        "spec": {
            "parentRefs": [
                {
                    "group": GATEWAY_GROUP,
                    "kind": "Gateway",
                    "name": gateway_name,
                    "sectionName": "https",
                }
            ],
            "hostnames": [hostname],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    "backendRefs": [{"name": service, "port": service_port}],
                }
            ],
        },
    }


def backend_tls_policy(
    *,
    name: str = "secure-api-backend-tls",
    namespace: str = "mtls-lab",
    service: str = "secure-api",
    hostname: str = "localhost",
    ca_configmap: str = "client-ca",
) -> dict:
    """The gateway reaches the app over TLS and verifies its certificate (nginx's proxy_ssl_verify)."""
    return {
        "apiVersion": GATEWAY_API,
        "kind": "BackendTLSPolicy",
        "metadata": _meta(name, namespace),
        "spec": {
            "targetRefs": [{"group": "", "kind": "Service", "name": service}],
            "validation": {
                "caCertificateRefs": [{"group": "", "kind": "ConfigMap", "name": ca_configmap}],
                "hostname": hostname,
            },
        },
    }


def envoy_client_traffic_policy(
    *, name: str = "forward-client-cert", namespace: str = "mtls-lab", gateway_name="secure-api"
) -> dict:
    """Envoy Gateway only: replace any client-sent XFCC header with the verified certificate.

    ``SanitizeSet`` drops a client's copy and sets a fresh header; ``Cert`` adds
    the URL-encoded PEM, ``Subject`` the subject DN. Other implementations have
    their own setting: this part is implementation-specific.
    """
    return {
        "apiVersion": ENVOY_GATEWAY,
        "kind": "ClientTrafficPolicy",
        "metadata": _meta(name, namespace),
        "spec": {
            "targetRefs": [{"group": GATEWAY_GROUP, "kind": "Gateway", "name": gateway_name}],
            "headers": {
                "xForwardedClientCert": {
                    "mode": "SanitizeSet",
                    "certDetailsToAdd": ["Cert", "Subject"],
                }
            },
        },
    }


def gateway_manifests(
    ca, server, clients: Iterable = (), *, namespace: str = "mtls-lab", gateway_class: str = "eg"
) -> list[dict]:
    """Every document for the course PKI behind an Envoy Gateway, references resolved."""
    issued = cert_manager_manifests(ca, server, clients, namespace=namespace)
    server_cn = common_name(getattr(server, "cert", server).subject)
    server_doc = next(
        d for d in issued if d["kind"] == "Certificate" and d["spec"].get("commonName") == server_cn
    )
    hostname = (server_doc["spec"].get("dnsNames") or [server_cn])[0]
    ca_map = client_ca_configmap(ca, namespace=namespace)
    ca_name = ca_map["metadata"]["name"]
    gw = gateway(
        namespace=namespace,
        gateway_class=gateway_class,
        hostname=hostname,
        tls_secret=server_doc["spec"]["secretName"],
        ca_configmap=ca_name,
    )
    gw_name = gw["metadata"]["name"]
    return [
        ca_map,
        gw,
        http_route(namespace=namespace, gateway_name=gw_name, hostname=hostname),
        backend_tls_policy(namespace=namespace, hostname=hostname, ca_configmap=ca_name),
        envoy_client_traffic_policy(namespace=namespace, gateway_name=gw_name),
        *issued,
    ]


class _Dumper(yaml.SafeDumper):
    """SafeDumper that writes multi-line strings (PEM) as literal ``|`` blocks."""


def _str(dumper: yaml.SafeDumper, value: str):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def to_yaml(documents: dict | Iterable[dict]) -> str:
    """YAML for ``kubectl apply -f -``: one document per resource, keys in the order written."""
    if isinstance(documents, dict):
        documents = [documents]
    return yaml.dump_all(list(documents), Dumper=_Dumper, sort_keys=False)


_PEM_BODY = re.compile(
    r"(-----BEGIN ([A-Z ]+)-----\n)(?:[ \t]*[A-Za-z0-9+/=]+\n)+([ \t]*)(-----END \2-----)"
)


def shorten_pem(text: str) -> str:
    """``text`` with every PEM body replaced by one ``...`` line (for printing, not applying)."""
    return _PEM_BODY.sub(lambda m: f"{m[1]}{m[3]}...\n{m[3]}{m[4]}", text)
