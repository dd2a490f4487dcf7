"""notebooks/k8s/ingress-nginx.yaml: the auth-tls annotations are strings and say what nginx says.

ingress-nginx turns each auth-tls-* annotation into an nginx directive; the test holds the
file to the directives the lab's own nginx configuration writes, and to YAML 1.1's trap
(a bare ``on`` is the boolean true, not the string nginx needs).
"""

from __future__ import annotations

import yaml

from lab.paths import ROOT
from lab.proxy import NginxProxy

INGRESS = ROOT / "notebooks" / "k8s" / "ingress-nginx.yaml"
PREFIX = "nginx.ingress.kubernetes.io/"


def annotations():
    doc = yaml.safe_load(INGRESS.read_text())
    assert doc["apiVersion"] == "networking.k8s.io/v1" and doc["kind"] == "Ingress"
    return {k.removeprefix(PREFIX): v for k, v in doc["metadata"]["annotations"].items()}


def test_every_annotation_is_a_string_as_kubernetes_requires():
    assert all(isinstance(v, str) for v in annotations().values())


def test_the_auth_tls_set_verifies_passes_the_certificate_and_names_only_the_ca_secret():
    ann = annotations()
    assert ann["auth-tls-secret"] == "mtls-lab/client-ca"
    assert ann["auth-tls-verify-client"] == "on"
    assert ann["auth-tls-pass-certificate-to-upstream"] == "true"
    assert "create secret generic client-ca --from-file=ca.crt=certs/rootCA.pem" in (
        INGRESS.read_text()
    )


def test_the_annotations_become_the_directives_the_lab_nginx_writes(throwaway_pki):
    ann = annotations()
    text = NginxProxy(
        "http://127.0.0.1:9",
        certificate=throwaway_pki.server,
        trust=throwaway_pki.root,
        verify_client=ann["auth-tls-verify-client"],
    ).config_text(8443)
    assert f"ssl_verify_client      {ann['auth-tls-verify-client']};" in text
    # the lab's nginx allows 2 intermediates; the course client, signed by the root, needs 0
    assert "ssl_verify_depth       2;" in text and 0 <= int(ann["auth-tls-verify-depth"]) <= 2


def test_the_ingress_serves_the_gateway_s_host_and_secret():
    spec = yaml.safe_load(INGRESS.read_text())["spec"]
    assert spec["tls"] == [{"hosts": ["localhost"], "secretName": "localhost-tls"}]
    assert spec["rules"][0]["host"] == "localhost"
