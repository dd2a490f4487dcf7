"""lab.proxy.gateway: every document parses, has what an API server needs, and its refs resolve."""

from __future__ import annotations

import pytest
import yaml

from lab.course import coursepki
from lab.proxy import gateway as g

NAMES = {"Certificate", "Issuer", "ConfigMap", "Secret", "Gateway", "HTTPRoute", "Service"}


@pytest.fixture(scope="module")
def course(shared_course_dir):
    return coursepki.load(shared_course_dir)


@pytest.fixture(scope="module")
def docs(course):
    """The manifests as a cluster would read them: through a YAML parser, not as Python dicts."""
    text = g.to_yaml(g.gateway_manifests(course.ca, course.server, [course.client]))
    return list(yaml.safe_load_all(text))


def one(docs, kind, api=None):
    found = [d for d in docs if d["kind"] == kind and (api is None or d["apiVersion"] == api)]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def test_every_document_has_api_version_kind_name_namespace_and_a_body(docs):
    assert len(docs) >= 8
    for d in docs:
        assert (
            isinstance(d["apiVersion"], str) and "/" in d["apiVersion"] or d["apiVersion"] == "v1"
        )
        assert d["kind"][0].isupper()
        assert d["metadata"]["name"] and d["metadata"]["namespace"] == "mtls-lab"
        assert "spec" in d or "data" in d, d["kind"]
    names = [(d["kind"], d["metadata"]["name"]) for d in docs]
    assert len(names) == len(set(names)), "two documents of one kind share a name"


def test_the_configmap_holds_exactly_the_course_ca_pem_as_ca_crt(docs, course):
    cm = one(docs, "ConfigMap")
    assert list(cm["data"]) == ["ca.crt"]
    assert cm["data"]["ca.crt"] == course.ca_file.read_text()
    assert "PRIVATE KEY" not in yaml.safe_dump_all(docs)


def test_the_gateway_requires_a_valid_client_certificate_from_that_configmap(docs):
    gw = one(docs, "Gateway", "gateway.networking.k8s.io/v1")
    validation = gw["spec"]["tls"]["frontend"]["default"]["validation"]
    assert validation["mode"] == "AllowValidOnly"
    (ref,) = validation["caCertificateRefs"]
    assert ref == {
        "group": "",
        "kind": "ConfigMap",
        "name": one(docs, "ConfigMap")["metadata"]["name"],
    }
    assert gw["spec"]["gatewayClassName"]


def test_the_listener_terminates_tls_with_the_server_certificate_secret(docs, course):
    gw = one(docs, "Gateway")
    (listener,) = gw["spec"]["listeners"]
    assert listener["protocol"] == "HTTPS" and 1 <= listener["port"] <= 65535
    assert listener["tls"]["mode"] == "Terminate"
    (ref,) = listener["tls"]["certificateRefs"]
    assert ref["kind"] == "Secret"
    server = [
        d for d in docs if d["kind"] == "Certificate" and d["spec"].get("commonName") == "localhost"
    ]
    assert [s["spec"]["secretName"] for s in server] == [ref["name"]]
    assert listener["hostname"] in server[0]["spec"]["dnsNames"]


def test_the_route_attaches_to_the_gateway_listener_and_reaches_the_service(docs):
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
    cm = one(docs, "ConfigMap")["metadata"]["name"]
    assert policy["spec"]["validation"]["caCertificateRefs"][0]["name"] == cm


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
    issuers = {d["metadata"]["name"] for d in docs if d["kind"] == "Issuer"}
    certs = {d["spec"]["commonName"]: d for d in docs if d["kind"] == "Certificate"}
    assert {"localhost", "MyTrustedClient"} <= set(certs)
    for cert in certs.values():
        assert cert["apiVersion"] == "cert-manager.io/v1"
        assert cert["spec"]["issuerRef"]["name"] in issuers
    assert "client auth" in certs["MyTrustedClient"]["spec"]["usages"]
    assert "server auth" in certs["localhost"]["spec"]["usages"]


def test_an_unknown_validation_mode_is_refused():
    with pytest.raises(ValueError, match="AllowValidOnly"):
        g.gateway(mode="Required")


def test_shorten_pem_leaves_one_line_and_the_armour(course):
    text = g.to_yaml(g.client_ca_configmap(course.ca))
    short = g.shorten_pem(text)
    assert "-----BEGIN CERTIFICATE-----\n    ...\n    -----END CERTIFICATE-----" in short
    assert yaml.safe_load(text)["data"]["ca.crt"].count("\n") > 3
