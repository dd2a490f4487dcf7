"""lab.kubernetes: the manifests parse as YAML and say exactly what the lab's PKI and nginx config say."""

from __future__ import annotations

import pytest
import yaml  # PyYAML is in .venv (a Jupyter dependency); the lab itself does not need it

from lab.proxy import ProxyConfig
from lab.proxy import kubernetes as k


def test_ingress_annotations_are_the_auth_tls_set_and_all_strings():
    doc = yaml.safe_load(k.to_yaml(k.ingress(verify_client="on", verify_depth=2)))
    ann = doc["metadata"]["annotations"]
    assert ann["nginx.ingress.kubernetes.io/auth-tls-secret"] == "mtls-lab/client-ca"
    assert ann["nginx.ingress.kubernetes.io/auth-tls-verify-client"] == "on"  # not the boolean true
    assert ann["nginx.ingress.kubernetes.io/auth-tls-verify-depth"] == "2"
    assert ann["nginx.ingress.kubernetes.io/auth-tls-pass-certificate-to-upstream"] == "true"
    assert all(isinstance(v, str) for v in ann.values())


@pytest.mark.parametrize("mode", ["on", "optional", "optional_no_ca", "off"])
def test_every_verify_mode_matches_the_nginx_directive_lab_proxy_writes(mode):
    ann = yaml.safe_load(k.to_yaml(k.ingress(verify_client=mode)))["metadata"]["annotations"]
    directive = (
        f"ssl_verify_client      {ann['nginx.ingress.kubernetes.io/auth-tls-verify-client']};"
    )
    assert (
        directive
        in ProxyConfig(port=8443, upstream="http://127.0.0.1:9", verify_client=mode).render()
    )


def test_an_unknown_verify_mode_is_refused():
    with pytest.raises(ValueError, match="verify_client"):
        k.ingress(verify_client="required")


def test_cert_manager_manifests_follow_the_lab_pki(
    root_ca, intermediate_ca, server_identity, client_identity
):
    docs = list(
        yaml.safe_load_all(
            k.to_yaml(k.cert_manager_manifests(intermediate_ca, server_identity, [client_identity]))
        )
    )
    kinds = [(d["kind"], d["metadata"]["name"]) for d in docs]
    assert kinds == [
        ("Issuer", "selfsigned-bootstrap"),
        ("Certificate", "test-issuing-ca"),
        ("Issuer", "test-issuing-ca-issuer"),
        ("Certificate", "localhost"),
        ("Certificate", "alice"),
    ]
    ca, server, client = docs[1]["spec"], docs[3]["spec"], docs[4]["spec"]
    assert ca["isCA"] is True and ca["commonName"] == "Test Issuing CA"
    assert ca["privateKey"] == {"algorithm": "ECDSA", "size": 256} and ca["duration"] == "43800h"
    assert server["dnsNames"] == ["localhost"] and server["ipAddresses"] == ["127.0.0.1"]
    assert server["usages"] == ["digital signature", "server auth"]
    assert client["usages"] == ["digital signature", "client auth"]
    assert client["emailAddresses"] == ["alice@lab.test"] and client["duration"] == "8760h"
    assert client["issuerRef"]["name"] == "test-issuing-ca-issuer"


def test_rsa_keys_become_rsa_private_key_specs_with_key_encipherment(rsa4096_root_ca):
    leaf = rsa4096_root_ca.issue_server("api.lab.test", key_type="rsa2048")
    spec = k.cert_manager_manifests(rsa4096_root_ca, leaf)[3]["spec"]
    assert spec["privateKey"]["algorithm"] == "RSA" and spec["privateKey"]["size"] == 2048
    assert "key encipherment" in spec["usages"]


def test_ingress_for_the_course_uses_its_server_name_and_chain(shared_course_dir):
    from lab.course import coursepki

    doc = yaml.safe_load(k.to_yaml(k.ingress_for(coursepki.load(shared_course_dir))))
    assert doc["spec"]["rules"][0]["host"] == "localhost"
    assert doc["spec"]["tls"][0] == {"hosts": ["localhost"], "secretName": "localhost-tls"}


@pytest.mark.parametrize(
    "value",
    [
        "on",
        "off",
        "yes",
        "null",
        "8760h",
        "a: b",
        "-x",
        "#c",
        "",
        "'q'",
        "1.5",
        "ünï",
        "line\nbreak",
    ],
)
def test_strings_yaml_would_misread_are_quoted(value):
    assert yaml.safe_load(k.to_yaml({"v": value, "items": [value]})) == {
        "v": value,
        "items": [value],
    }


def test_manifests_keep_their_key_order_and_indent_lists_as_kubectl_does():
    text = k.to_yaml(k.ingress(host="api.lab.test"))
    assert text.splitlines()[:3] == [
        "apiVersion: networking.k8s.io/v1",
        "kind: Ingress",
        "metadata:",
    ]
    assert "  tls:\n    - hosts:\n        - api.lab.test\n" in text


def test_several_manifests_are_separate_documents():
    docs = [{"kind": "Issuer"}, {"kind": "Certificate"}]
    assert list(yaml.safe_load_all(k.to_yaml(docs))) == docs
