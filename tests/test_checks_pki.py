"""Notebook 01's extfile exercise: the real openssl signs the learner's lines.

The check signs a real request with the real openssl and the learner's lines, then
presents the certificate to a lab server; these tests assert the verdict and the hint's
key words, so each missing or wrong line gets a hint naming its extension. openssl is a course
prerequisite: the ``openssl`` fixture fails (not skips) when it is missing.
"""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from lab.course import coursepki
from lab.course.checks.nb01_pki import _extension_hint, exercise_client_extfile, openssl_reason

LINES = {
    "san": "subjectAltName = email:dave@lab.test",
    "bc": "basicConstraints = critical, CA:FALSE",
    "ku": "keyUsage = critical, digitalSignature",
    "eku": "extendedKeyUsage = clientAuth",
    "ski": "subjectKeyIdentifier = hash",
    "aki": "authorityKeyIdentifier = keyid",
}


def extfile(**changes) -> str:
    lines = {**LINES, **changes}
    return "\n".join(line for line in lines.values() if line) + "\n"


@pytest.fixture(scope="module")
def course(shared_course_dir, openssl):
    return coursepki.load(shared_course_dir)


def test_the_six_lines_make_a_client_certificate_the_lab_server_accepts(
    course, capsys, tmp_path, monkeypatch
):
    monkeypatch.setenv("LAB_STATE_DIR", str(tmp_path))
    assert exercise_client_extfile(extfile(), course)
    out = capsys.readouterr().out
    assert out.startswith("✅") and "Hello CN=dave" in out
    assert (tmp_path / "scratch").is_dir(), "openssl did not run in the checkout's scratch folder"
    assert not list((tmp_path / "scratch").iterdir()), "the copy of the CA key was left behind"


@pytest.mark.parametrize(
    "changes, hint",
    [
        ({"san": ""}, "subjectAltName must hold"),
        ({"bc": ""}, "basicConstraints must say"),
        ({"ku": ""}, "keyUsage must hold"),
        ({"eku": ""}, "extendedKeyUsage must allow"),
        ({"bc": "basicConstraints = CA:TRUE"}, "not a CA"),
        ({"ku": "keyUsage = keyEncipherment"}, "keyUsage must hold"),
        ({"ku": "keyUsage = digitalSignature, keyCertSign"}, "only a CA needs"),
        ({"eku": "extendedKeyUsage = serverAuth"}, "allow a client"),
        ({"eku": "extendedKeyUsage = serverAuth, clientAuth"}, "nothing more"),
        ({"san": "subjectAltName = email:bob@lab.test"}, "his email address"),
        ({"eku": "extendedKeyUsage = clientAuthh"}, "cannot read `extendedKeyUsage = clientAuthh`"),
        ({"eku": "extendedKeyUsage clientAuth"}, "Error on line 4"),
    ],
)
def test_each_missing_or_wrong_line_gets_its_own_hint(course, capsys, changes, hint):
    assert not exercise_client_extfile(extfile(**changes), course)
    out = capsys.readouterr().out
    assert out.startswith("💡 Not yet:") and hint in out, out


@pytest.mark.parametrize("text", ["", "# only a comment\n", "   \n", None])
def test_an_extfile_without_lines_is_refused_before_openssl_runs(course, capsys, text):
    assert not exercise_client_extfile(text, course)
    assert "no lines yet" in capsys.readouterr().out


def test_the_hint_never_contains_a_line_of_the_answer(course, capsys):
    for key in LINES:
        exercise_client_extfile(extfile(**{key: ""}), course)
    out = capsys.readouterr().out
    for line in LINES.values():
        assert line.split(" = ", 1)[1] not in out.replace("email address dave@lab.test", "")


def _hand_made(*extensions):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dave")]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CA")]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
    )
    for ext in extensions:
        builder = builder.add_extension(ext, critical=False)
    return builder.sign(key, hashes.SHA256()), key


def _client_extensions(key):
    usage = dict.fromkeys(
        [
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
            "encipher_only",
            "decipher_only",
        ],
        False,
    )
    return [
        x509.BasicConstraints(ca=False, path_length=None),
        x509.KeyUsage(digital_signature=True, **usage),
        x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]),
        x509.SubjectAlternativeName([x509.RFC822Name("dave@lab.test")]),
    ]


def test_missing_key_identifiers_get_their_own_hints():
    # OpenSSL 3.0 adds both identifiers by itself; other versions and tools may not.
    _, key = _hand_made()
    cert, _ = _hand_made(*_client_extensions(key))
    assert "a key identifier is missing" in _extension_hint(cert)
    ski = x509.SubjectKeyIdentifier.from_public_key(cert.public_key())
    cert, _ = _hand_made(*_client_extensions(key), ski)
    assert "a key identifier is missing" in _extension_hint(cert)


def test_openssl_reason_picks_the_line_that_names_the_problem():
    stderr = (
        "Certificate request self-signature ok\n"
        "40A7:error:04000067:object identifier routines:OBJ_txt2obj:unknown object name:x.c:372:\n"
        "40A7:error:11000080:X509 V3 routines:X509V3_EXT_nconf_int:error in extension:"
        "../v3_conf.c:48:section=default, name=keyUsage, value=signing\n"
    )
    assert openssl_reason(stderr) == "it cannot read `keyUsage = signing`"
    assert openssl_reason("") == "no reason given"
