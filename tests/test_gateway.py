"""notebooks/k8s/gateway.yaml and cert-manager.yaml: what an API server needs, and the refs resolve.

The learner reads these files in notebook 07; a typo in a kind, a name or a reference would
teach a document no cluster accepts. The checks follow the Gateway API v1.5 standard-channel
fields (spec.tls.frontend.default.validation), Envoy Gateway's ClientTrafficPolicy and
cert-manager's v1 API.
"""

from __future__ import annotations

import re

import pytest
import yaml

from lab.paths import ROOT

K8S = ROOT / "notebooks" / "k8s"


def load(name):
    return list(yaml.safe_load_all((K8S / name).read_text()))


@pytest.fixture(scope="module")
def docs():
    return load("gateway.yaml") + load("cert-manager.yaml")


def one(docs, kind, api=None):
    found = [d for d in docs if d["kind"] == kind and (api is None or d["apiVersion"] == api)]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def configmap_created_by_the_comment():
    """The ConfigMap the file's header tells the learner to create: (name, key, file)."""
    text = (K8S / "gateway.yaml").read_text()
    m = re.search(r"kubectl -n mtls-lab create configmap (\S+) --from-file=(\S+)=(\S+)", text)
    assert m, "gateway.yaml says how to create the CA ConfigMap"
    return m.groups()


def test_every_document_has_api_version_kind_name_namespace_and_a_body(docs):
    for d in docs:
        assert d["apiVersion"] == "v1" or "/" in d["apiVersion"]
        assert d["kind"][0].isupper()
        assert d["metadata"]["name"] and d["metadata"]["namespace"] == "mtls-lab"
        assert isinstance(d.get("spec"), dict), d["kind"]
    names = [(d["kind"], d["metadata"]["name"]) for d in docs]
    assert len(names) == len(set(names)), "two documents of one kind share a name"
    assert "PRIVATE KEY" not in (K8S / "gateway.yaml").read_text()


def test_the_ca_configmap_is_made_from_the_course_ca_certificate_under_ca_crt():
    name, key, source = configmap_created_by_the_comment()
    assert (name, key, source) == ("client-ca", "ca.crt", "certs/rootCA.pem")


def test_the_gateway_requires_a_valid_client_certificate_from_that_configmap(docs):
    gw = one(docs, "Gateway", "gateway.networking.k8s.io/v1")
    validation = gw["spec"]["tls"]["frontend"]["default"]["validation"]
    assert validation["mode"] == "AllowValidOnly"
    (ref,) = validation["caCertificateRefs"]
    assert ref == {"group": "", "kind": "ConfigMap", "name": configmap_created_by_the_comment()[0]}
    assert gw["spec"]["gatewayClassName"] == "eg"


def test_the_listener_terminates_tls_with_the_server_certificate_secret(docs):
    gw = one(docs, "Gateway")
    (listener,) = gw["spec"]["listeners"]
    assert listener["protocol"] == "HTTPS" and listener["port"] == 443
    assert listener["tls"]["mode"] == "Terminate"
    (ref,) = listener["tls"]["certificateRefs"]
    assert ref["kind"] == "Secret"
    server = [
        d
        for d in docs
        if d["kind"] == "Certificate" and "server auth" in d["spec"].get("usages", ())
    ]
    assert [s["spec"]["secretName"] for s in server] == [ref["name"]]
    assert listener["hostname"] in server[0]["spec"]["dnsNames"]


def test_the_route_attaches_to_the_gateway_listener_and_the_backend_is_verified(docs):
    gw, route = one(docs, "Gateway"), one(docs, "HTTPRoute", "gateway.networking.k8s.io/v1")
    (parent,) = route["spec"]["parentRefs"]
    assert parent["kind"] == "Gateway" and parent["name"] == gw["metadata"]["name"]
    assert parent["sectionName"] == gw["spec"]["listeners"][0]["name"]
    assert route["spec"]["hostnames"] == [gw["spec"]["listeners"][0]["hostname"]]
    (rule,) = route["spec"]["rules"]
    assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]
    (backend,) = rule["backendRefs"]
    policy = one(docs, "BackendTLSPolicy", "gateway.networking.k8s.io/v1")
    assert policy["spec"]["targetRefs"] == [
        {"group": "", "kind": "Service", "name": backend["name"]}
    ]
    ca = policy["spec"]["validation"]["caCertificateRefs"][0]["name"]
    assert ca == configmap_created_by_the_comment()[0]


def test_envoy_gateway_replaces_any_client_sent_xfcc_with_the_verified_certificate(docs):
    ctp = one(docs, "ClientTrafficPolicy", "gateway.envoyproxy.io/v1alpha1")
    (target,) = ctp["spec"]["targetRefs"]
    assert target == {
        "group": "gateway.networking.k8s.io",
        "kind": "Gateway",
        "name": one(docs, "Gateway")["metadata"]["name"],
    }
    xfcc = ctp["spec"]["headers"]["xForwardedClientCert"]
    assert xfcc == {"mode": "SanitizeSet", "certDetailsToAdd": ["Cert", "Subject"]}


def test_cert_manager_issues_the_server_and_the_client_from_the_ca_issuer(docs):
    issuers = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Issuer"}
    certs = {d["spec"]["commonName"]: d for d in docs if d["kind"] == "Certificate"}
    assert set(certs) == {"mTLS Lab Root CA", "localhost", "MyTrustedClient"}
    for cert in certs.values():
        assert cert["apiVersion"] == "cert-manager.io/v1"
        assert cert["spec"]["issuerRef"]["name"] in issuers
    root = certs["mTLS Lab Root CA"]["spec"]
    assert root["isCA"] is True and root["issuerRef"]["name"] == "selfsigned-bootstrap"
    ca_issuer = issuers[certs["localhost"]["spec"]["issuerRef"]["name"]]
    assert ca_issuer["spec"]["ca"]["secretName"] == root["secretName"]
    assert certs["MyTrustedClient"]["spec"]["usages"] == ["digital signature", "client auth"]
    assert certs["localhost"]["spec"]["usages"] == ["digital signature", "server auth"]
