"""nginx with only the lines you write, against the real binary: its defaults, its CA list,
the 07 exercise."""

from __future__ import annotations

import subprocess

import pytest
from test_proxy import nginx_binary  # noqa: F401 (autouse: fails with the install hint)

from lab.course import check, coursepki
from lab.proxy import Nginx, NginxError
from lab.tls import client
from lab.tls.server import MTLSServer

pytestmark = pytest.mark.interop

MTLS = """\
ssl_certificate        certs/server.crt;
ssl_certificate_key    certs/server.key;
ssl_client_certificate certs/client-ca.pem;
ssl_verify_client      on;
location / { return 200 "hello $ssl_client_s_dn\\n"; }"""


@pytest.fixture(scope="module")
def course(shared_course_dir):
    return coursepki.load(shared_course_dir)


def files_for(course, server=None):
    server = server or course.server
    return {
        "certs/server.crt": server.chain_pem,
        "certs/server.key": server.key_pem(),
        "certs/client-ca.pem": course.ca_file.read_bytes(),
    }


def test_out_of_the_box_nginx_answers_400_not_496_or_495(course, unrelated_ca):
    stranger = unrelated_ca.issue_client("MyTrustedClient")
    with Nginx(MTLS, files_for(course)) as nginx:
        missing = client.session(None, trust=course.ca).get(nginx.url + "/")
        refused = client.session(stranger, trust=course.ca).get(nginx.url + "/")
        ok = client.session(course.client, trust=course.ca).get(nginx.url + "/")
        logged = nginx.log_messages("info")
    assert missing.status_code == 400 and "No required SSL certificate was sent" in missing.text
    assert refused.status_code == 400 and "The SSL certificate error" in refused.text
    assert ok.status_code == 200 and "CN=MyTrustedClient" in ok.text
    assert any("client sent no required SSL certificate" in m for m in logged)


def test_the_key_is_private_gone_once_nginx_listens_and_the_prefix_is_removed(course):
    nginx = Nginx(MTLS, files_for(course))
    nginx.write_prefix(8443)
    assert (nginx.prefix / "certs/server.key").stat().st_mode & 0o777 == 0o600
    nginx.stop()
    nginx.start()
    prefix = nginx.prefix
    try:
        assert not (prefix / "certs/server.key").exists()  # nginx holds it in memory
        assert prefix.stat().st_mode & 0o777 == 0o700
        assert client.session(course.client, trust=course.ca).get(nginx.url + "/").ok
    finally:
        nginx.stop()
    assert not prefix.exists() and nginx.process is None


def ca_names(port, course):
    """What notebook 07's ``openssl s_client`` line shows: the CertificateRequest's CA list."""
    out = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", str(course.ca_file)],
        input="",
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout.splitlines()
    i = next(i for i, line in enumerate(out) if "client certificate CA names" in line)
    return out[i : i + 2]


def test_nginx_names_its_client_cas_and_python_ssl_names_none(course):
    with Nginx(MTLS, files_for(course)) as nginx:
        from_nginx = ca_names(nginx.port, course)
    with MTLSServer(lambda e, s: [], certificate=course.server, trust=course.ca) as app:
        from_python = ca_names(app.port, course)
    assert from_nginx == [
        "Acceptable client certificate CA names",
        "O = mTLS Lab, CN = mTLS Lab Root CA",
    ]
    assert from_python[0] == "No client certificate CA names sent"


def test_a_bad_directive_stops_nginx_with_its_own_message(course):
    nginx = Nginx("ssl_certificat certs/server.crt;", files_for(course))
    with pytest.raises(NginxError, match="unknown directive"):
        nginx.start()
    assert nginx.prefix is None
    assert any("ssl_certificat" in m for m in nginx.log_messages("emerg"))


PAYMENTS = """\
ssl_certificate        certs/server.crt;
ssl_certificate_key    certs/server.key;
ssl_client_certificate certs/rootCA.pem;
ssl_verify_client      on;
error_page 496 =496 @missing;
location @missing { return 496 "client certificate required\\n"; }
location / {
    proxy_pass APP_URL;
    proxy_set_header X-Client-Cert     $ssl_client_escaped_cert;
    proxy_set_header X-SSL-Client-Cert "";
}"""


@pytest.mark.parametrize(
    "body, passes, hint",
    [
        (PAYMENTS, True, ""),
        (PAYMENTS.replace("ssl_verify_client      on;", ""), False, "without a certificate"),
        (PAYMENTS.replace("error_page 496 =496 @missing;", ""), False, "got 400, not 496"),
        (PAYMENTS.replace('proxy_set_header X-SSL-Client-Cert "";', ""), False, "own X-SSL"),
        (PAYMENTS.replace("escaped_cert", "s_dn"), False, "URL-encoded PEM"),
        (
            PAYMENTS.replace("add_header", "x").replace(
                "proxy_set_header X-Client", "add_header X-Client"
            ),
            False,
            "URL-encoded PEM",
        ),
        ("ssl_certificat certs/server.crt; proxy_pass APP_URL;", False, "unknown directive"),
        ("", False, "APP_URL"),
    ],
)
def test_the_07_exercise_check_runs_the_server_block_in_real_nginx(
    course, body, passes, hint, capsys
):
    assert bool(check.exercise_forward_directive(body, course)) is passes
    out = capsys.readouterr().out
    assert out.startswith("✅" if passes else "💡") and hint in out
    assert "ssl_client_escaped_cert" not in out  # a hint never gives the answer away
