"""``python -m lab pki init|issue|show``: files, exit codes, one-line errors, never a traceback.

The promise is about what a learner sees in a terminal, so the key behaviours
(init, refusing to overwrite, the RSA sizes, a .pfx, --help, a usage error) run
as real subprocesses through ``run_lab`` (conftest.py). The rest call
``lab.cli.main`` in-process (``lab_cli`` below): the same code path that
``python -m lab`` runs, without paying an interpreter start per test on a
loaded machine.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import resource
import shutil
import stat
import subprocess
import sys
import time

import pytest
from conftest import LabRun
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import PrivateFormat, pkcs12

from lab import cli, pki
from lab.course import coursepki
from lab.errors import CorruptFileError, PKIExistsError
from lab.pki.files import MAC_ITERATION_LIMIT
from lab.pki.verify import verify_chain
from lab.revocation import RevocationError, Revocations

GUIDE_FILES = {
    "rootCA.pem",
    "rootCA.key",
    "server.crt",
    "server.key",
    "server.pfx",
    "client.crt",
    "client.key",
    "client.pfx",
    "pfx-password.txt",
}


@pytest.fixture
def lab_cli(capsys):
    """``lab_cli(*args) -> LabRun``: ``lab.cli.main`` in-process, with its exit code and output."""

    def run(*args) -> LabRun:
        capsys.readouterr()
        try:
            rc = cli.main([str(a) for a in args])
        except SystemExit as exc:  # argparse: --help (0) and usage errors (2)
            rc = exc.code
        out = capsys.readouterr()
        return LabRun(rc, out.out, out.err)

    return run


def one_line_error(run, *phrases):
    """Assert a failed run: exit 1, exactly one 'error: ...' line on stderr, no traceback."""
    assert run.rc == 1, run
    assert not run.has_traceback, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run.stderr
    for phrase in phrases:
        assert phrase in lines[0], f"{phrase!r} not in {lines[0]!r}"
    return lines[0]


def ok(run):
    assert run.rc == 0, run
    assert run.stderr == "" and not run.has_traceback, run.stderr
    return run.stdout


def field(text: str, label: str) -> str:
    for line in text.splitlines():
        if line.startswith(label + " "):
            return line[len(label) :].strip()
    raise AssertionError(f"no {label!r} line in:\n{text}")


# --------------------------------------------------------------------- init
def test_init_writes_the_nine_documented_files(run_lab, tmp_path):
    target = tmp_path / "certs"
    out = ok(run_lab("pki", "init", "--dir", target))
    assert {p.name for p in target.iterdir()} == GUIDE_FILES
    assert out.startswith(f"wrote 9 files to {target}")
    assert "pfx-password.txt (mode 0600)" in out


def test_init_makes_the_guide_identities(course_dir):
    course = coursepki.load(course_dir)
    assert course.client.common_name == "MyTrustedClient"
    assert verify_chain(course.server, course.ca, purpose="server", hostname="localhost").ok
    assert verify_chain(course.server, course.ca, purpose="server", hostname="127.0.0.1").ok
    assert verify_chain(course.client, course.ca, purpose="client").ok


def test_init_refuses_to_overwrite_an_existing_ca(run_lab, course_dir):
    before = (course_dir / "rootCA.pem").read_bytes()
    line = one_line_error(run_lab("pki", "init", "--dir", course_dir), "already exist", "--force")
    assert "orphaned" in line
    assert (course_dir / "rootCA.pem").read_bytes() == before


def test_init_with_force_replaces_the_ca(lab_cli, course_dir):
    before = (course_dir / "rootCA.pem").read_bytes()
    ok(lab_cli("pki", "init", "--dir", course_dir, "--force"))
    assert (course_dir / "rootCA.pem").read_bytes() != before
    assert coursepki.load(course_dir).client.key_matches


def test_init_if_missing_leaves_an_existing_ca_alone(lab_cli, course_dir):
    before = (course_dir / "rootCA.pem").read_bytes()
    assert "PKI already present" in ok(lab_cli("pki", "init", "--dir", course_dir, "--if-missing"))
    assert (course_dir / "rootCA.pem").read_bytes() == before


def test_init_rsa_makes_an_rsa4096_root_and_rsa2048_leaves(run_lab, tmp_path):
    target = tmp_path / "certs"
    ok(run_lab("pki", "init", "--dir", target, "--key-type", "rsa"))
    sizes = {
        name: pki.load_certificate(target / name).public_key()
        for name in ("rootCA.pem", "server.crt", "client.crt")
    }
    assert all(isinstance(k, rsa.RSAPublicKey) for k in sizes.values())
    assert {n: k.key_size for n, k in sizes.items()} == {
        "rootCA.pem": 4096,
        "server.crt": 2048,
        "client.crt": 2048,
    }


def test_init_password_protects_both_pfx_files(lab_cli, tmp_path):
    target = tmp_path / "certs"
    ok(lab_cli("pki", "init", "--dir", target, "--password", "Chosen-1"))
    for name in ("server.pfx", "client.pfx"):
        assert pki.load_pkcs12(target / name, "Chosen-1").key_matches


def test_init_default_pfx_password_is_random_and_not_the_guides_placeholder(course_dir, tmp_path):
    password = coursepki.read_password(course_dir)
    other = coursepki.init(tmp_path / "other")[0].parent
    assert password != "pfx-password" and len(password) >= 16
    assert password != coursepki.read_password(other)
    assert pki.load_pkcs12(course_dir / "client.pfx", password).common_name == "MyTrustedClient"


# -------------------------------------------------------------------- issue
def test_issue_client_adds_name_crt_key_and_pfx_signed_by_that_ca(lab_cli, course_dir):
    out = ok(lab_cli("pki", "issue", "client", "bob", "--dir", course_dir))
    assert out.startswith("issued bob: ")
    assert {"bob.crt", "bob.key", "bob.pfx"} <= {p.name for p in course_dir.iterdir()}
    ca = coursepki.load_ca(course_dir)
    bob = pki.load_pair(course_dir / "bob.crt", course_dir / "bob.key")
    bob.cert.verify_directly_issued_by(ca.cert)
    assert bob.common_name == "bob"
    assert verify_chain(bob, ca, purpose="client").ok


def test_issued_pfx_opens_with_the_password_in_pfx_password_txt(lab_cli, course_dir):
    ok(lab_cli("pki", "issue", "client", "bob", "--dir", course_dir))
    bob = pki.load_pkcs12(course_dir / "bob.pfx", coursepki.read_password(course_dir))
    assert bob.common_name == "bob" and bob.key_matches


def test_issue_client_days_sets_the_validity(lab_cli, course_dir):
    ok(lab_cli("pki", "issue", "client", "brief", "--dir", course_dir, "--days", "10"))
    cert = pki.load_certificate(course_dir / "brief.crt")
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert lifetime.days == 10


def test_issue_client_again_renews_that_client_only_with_force(lab_cli, course_dir):
    """Re-issuing an existing NAME replaces its key: only with --force (the renewal)."""
    ok(lab_cli("pki", "issue", "client", "bob", "--dir", course_dir))
    first = pki.load_certificate(course_dir / "bob.crt")
    one_line_error(
        lab_cli("pki", "issue", "client", "bob", "--dir", course_dir), "bob.crt", "--force"
    )
    assert pki.load_certificate(course_dir / "bob.crt") == first
    ok(lab_cli("pki", "issue", "client", "bob", "--dir", course_dir, "--force"))
    renewed = pki.load_pair(course_dir / "bob.crt", course_dir / "bob.key")
    assert renewed.cert.serial_number != first.serial_number and renewed.key_matches


def test_issue_client_counts_a_link_to_nothing_as_an_existing_file(lab_cli, course_dir):
    (course_dir / "carol.key").symlink_to(course_dir / "nowhere")
    one_line_error(lab_cli("pki", "issue", "client", "carol", "--dir", course_dir), "carol.key")
    assert not (course_dir / "carol.crt").exists()


@pytest.mark.parametrize(
    "name",
    ["rootCA", "server", "rootCA.key", "rootCA.pem", "rootCA.crt", "server.crt", "server.pem"]
    + ["ROOTCA", "Server", "rootca.key", "SERVER.pem"],
)
@pytest.mark.parametrize("force", [False, True], ids=["", "force"])
def test_issue_client_refuses_a_name_that_would_overwrite_the_ca_or_server(
    lab_cli, course_dir, name, force
):
    before = {p.name: p.read_bytes() for p in course_dir.iterdir()}
    args = ["pki", "issue", "client", name, "--dir", course_dir] + ["--force"] * force
    one_line_error(lab_cli(*args), "a file of the CA or the server", "choose another name")
    assert {p.name: p.read_bytes() for p in course_dir.iterdir()} == before
    assert coursepki.load(course_dir).server.key_matches


@pytest.mark.parametrize("name", ["../escape", "sub/bob", ".hidden", ""])
def test_issue_client_refuses_a_name_that_is_not_a_plain_file_name(lab_cli, course_dir, name):
    one_line_error(
        lab_cli("pki", "issue", "client", name, "--dir", course_dir), "not a plain file name"
    )
    assert not (course_dir.parent / "escape.key").exists()
    assert not (course_dir / "sub").exists()


def test_issue_client_without_a_ca_says_to_run_init(lab_cli, tmp_path):
    one_line_error(
        lab_cli("pki", "issue", "client", "bob", "--dir", tmp_path), "no CA in", "pki init"
    )


# --------------------------------------------------------------------- show
def test_show_summarises_a_pem_certificate(lab_cli, shared_course_dir):
    out = ok(lab_cli("pki", "show", shared_course_dir / "server.crt"))
    assert field(out, "Subject") == "CN=localhost,O=mTLS Lab"
    assert field(out, "SAN") == "DNS:localhost, IP:127.0.0.1"
    assert field(out, "Extended key usage") == "serverAuth"


def test_show_summarises_a_der_certificate(lab_cli, shared_course_dir, tmp_path):
    der = tmp_path / "client.der"
    der.write_bytes(
        pki.load_certificate(shared_course_dir / "client.crt").public_bytes(
            serialization.Encoding.DER
        )
    )
    out = ok(lab_cli("pki", "show", der))
    assert field(out, "Subject") == "CN=MyTrustedClient,O=mTLS Lab"
    assert field(out, "Extended key usage") == "clientAuth"


def test_show_opens_a_pfx_with_the_password_file_beside_it(lab_cli, shared_course_dir):
    out = ok(lab_cli("pki", "show", shared_course_dir / "client.pfx"))
    assert field(out, "Subject") == "CN=MyTrustedClient,O=mTLS Lab"
    assert "private key: ECDSA P-256, matches the certificate: yes" in out


def test_show_opens_a_pfx_with_password_option(lab_cli, shared_course_dir, tmp_path):
    lonely = shutil.copy(shared_course_dir / "server.pfx", tmp_path / "server.pfx")
    out = ok(
        lab_cli("pki", "show", lonely, "--password", coursepki.read_password(shared_course_dir))
    )
    assert field(out, "Subject") == "CN=localhost,O=mTLS Lab"


def test_show_pfx_without_any_password_asks_for_one(lab_cli, shared_course_dir, tmp_path):
    lonely = shutil.copy(shared_course_dir / "server.pfx", tmp_path / "server.pfx")
    one_line_error(lab_cli("pki", "show", lonely), "needs its password: --password P")


def test_show_pfx_with_a_wrong_password_fails_in_one_line(lab_cli, shared_course_dir):
    one_line_error(
        lab_cli("pki", "show", shared_course_dir / "server.pfx", "--password", "wrong"),
        "wrong password",
        "check the password",
    )


def test_show_missing_file_fails_in_one_line(lab_cli, tmp_path):
    one_line_error(lab_cli("pki", "show", tmp_path / "nope.crt"), "does not exist")


def test_show_truncated_certificate_fails_in_one_line(lab_cli, shared_course_dir, tmp_path):
    broken = tmp_path / "broken.crt"
    broken.write_bytes((shared_course_dir / "server.crt").read_bytes()[:300])
    one_line_error(lab_cli("pki", "show", broken), "not a readable PEM certificate")


def test_show_key_instead_of_certificate_fails_in_one_line(lab_cli, shared_course_dir):
    one_line_error(lab_cli("pki", "show", shared_course_dir / "client.key"), "holds a private key")


# --------------------------------------------------------- usage and --help
def _subcommands(prefix: tuple) -> list[str]:
    """The subcommands argparse offers after ``prefix``, read from its own refusal of a name it
    does not know ("invalid choice: ... choose from 'a', 'b'"): the public behaviour, not its
    private ``_actions``. A command without subcommands parses the name or refuses it otherwise."""
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors):
            cli.build_parser().parse_args([*prefix, "no-such-command"])
    except SystemExit:
        pass
    found = re.search(
        r"invalid choice: 'no-such-command' \(?choose from (.*?)\)?$", errors.getvalue(), re.M
    )
    return re.findall(r"'([^']+)'", found.group(1)) if found else []


def _command_paths(prefix=()):
    """Every command path in the CLI tree: (), ("pki",), ("pki", "init"), ..."""
    yield prefix
    for name in _subcommands(prefix):
        yield from _command_paths((*prefix, name))


COMMANDS = list(_command_paths())


def test_the_pki_commands_are_all_in_the_tree():
    assert {("pki", "init"), ("pki", "issue", "client"), ("pki", "show")} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "top")
def test_every_command_has_help_exiting_0(command, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main([*command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: python -m lab" + "".join(" " + c for c in command))


USAGE_ERRORS = [
    [],
    ["nonsense"],
    ["pki"],
    ["pki", "nonsense"],
    ["pki", "init", "--key-type", "dsa"],
    ["pki", "init", "--unknown-flag"],
    ["pki", "issue"],
    ["pki", "issue", "client"],
    ["pki", "issue", "server", "x"],
    ["pki", "issue", "client", "bob", "--days", "0"],
    ["pki", "issue", "client", "bob", "--days", "soon"],
    ["pki", "issue", "client", "bob", "--days", "1e400"],
    ["pki", "issue", "client", "bob", "--days", "nan"],
    ["pki", "issue", "client", "bob", "--days", "-inf"],
    ["pki", "issue", "client", "bob", "--days", "1e9"],
    ["pki", "revoke", "bob", "--days", "1e400"],
    ["pki", "crl", "--days", "nan"],
    ["pki", "status", "--warn-days", "1e400"],
    ["pki", "status", "--warn-days", "nan"],
    ["pki", "show"],
]


@pytest.mark.parametrize("argv", USAGE_ERRORS, ids=lambda a: " ".join(a) or "no-args")
def test_usage_errors_exit_2_with_usage_and_no_traceback(argv, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: ") and "error: " in err
    assert "Traceback" not in err


def test_usage_error_exits_2_from_a_real_interpreter(run_lab):
    run = run_lab("pki", "issue", "client", "bob", "--days", "0")
    assert run.rc == 2 and not run.has_traceback
    assert "--days must be greater than 0" in run.stderr


# ------------------------------------------------- nothing overwritten without --force
def test_init_refuses_when_any_file_it_would_write_exists_and_names_them(
    lab_cli, course_dir, tmp_path
):
    """With rootCA.pem moved away, init used to overwrite every key and pfx-password.txt."""
    ok(lab_cli("pki", "issue", "client", "bob", "--dir", course_dir))
    password = coursepki.read_password(course_dir)
    (course_dir / "rootCA.pem").rename(tmp_path / "rootCA.pem.moved")
    before = {p.name: p.read_bytes() for p in course_dir.iterdir()}
    line = one_line_error(lab_cli("pki", "init", "--dir", course_dir), "--force")
    for name in ("rootCA.key", "client.key", "server.key", "pfx-password.txt"):
        assert name in line
    assert {p.name: p.read_bytes() for p in course_dir.iterdir()} == before
    assert pki.load_pkcs12(course_dir / "bob.pfx", password).common_name == "bob"
    one_line_error(lab_cli("pki", "init", "--dir", course_dir, "--if-missing"), "client.key")
    assert {p.name: p.read_bytes() for p in course_dir.iterdir()} == before


def test_init_refuses_a_single_leftover_file_too(lab_cli, tmp_path):
    (tmp_path / "pfx-password.txt").write_text("keep-me\n")
    one_line_error(lab_cli("pki", "init", "--dir", tmp_path), "pfx-password.txt already exists")
    assert (tmp_path / "pfx-password.txt").read_text() == "keep-me\n"
    ok(lab_cli("pki", "init", "--dir", tmp_path, "--force"))
    assert coursepki.read_password(tmp_path) != "keep-me"


def test_init_into_a_file_is_one_line(lab_cli, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("notes\n")
    one_line_error(lab_cli("pki", "init", "--dir", readme), "is a file, not a folder")
    assert readme.read_text() == "notes\n"


# ------------------------------------------------------------------ names
@pytest.mark.parametrize(
    "name, phrase",
    [
        ("bob\nINFO authorization allowed for CN=admin", "control character U+000A"),
        ("bob\x1b[2K", "control character U+001B"),
        ("bo\u202eb", "control character U+202E"),
        ("bob,O=admins", "contains '=' or ','"),
        ("CN=admin", "contains '=' or ','"),
        ("x" * 70, "is 70 bytes in UTF-8; at most 64 fit"),
        ("é" * 64, "is 128 bytes in UTF-8; at most 64 fit"),
    ],
    ids=["newline", "escape", "bidi-override", "comma", "equals", "70-chars", "64-e-acute"],
)
def test_issue_client_refuses_a_name_that_would_lie_in_logs_or_allow_lists(
    lab_cli, course_dir, name, phrase
):
    before = {p.name for p in course_dir.iterdir()}
    line = one_line_error(lab_cli("pki", "issue", "client", name, "--dir", course_dir), phrase)
    assert "unexpected" not in line
    assert {p.name for p in course_dir.iterdir()} == before


def test_a_64_character_client_name_is_still_accepted(lab_cli, course_dir):
    ok(lab_cli("pki", "issue", "client", "x" * 64, "--dir", course_dir))


# --------------------------------------------------------- clear one-line errors
def test_a_non_utf8_password_file_is_one_line_everywhere(lab_cli, course_dir):
    (course_dir / "pfx-password.txt").write_bytes(b"\xff\xfe\x00not text")
    one_line_error(lab_cli("pki", "show", course_dir / "client.pfx"), "is not UTF-8 text")
    one_line_error(
        lab_cli("pki", "issue", "client", "bob", "--dir", course_dir), "is not UTF-8 text"
    )
    status = lab_cli("pki", "status", "--dir", course_dir)
    assert status.rc == 1 and "is not UTF-8 text" in status.stdout and not status.has_traceback


def test_show_with_an_explicit_empty_password_uses_it(lab_cli, shared_course_dir):
    """--password "" used to fall back to pfx-password.txt silently and open the bundle."""
    one_line_error(
        lab_cli("pki", "show", shared_course_dir / "client.pfx", "--password", ""),
        "wrong password",
    )


@pytest.mark.parametrize(
    "make, phrase",
    [
        (lambda p: p.write_bytes(os.urandom(2000)), "neither a PEM nor a DER certificate"),
        (lambda p: p.write_bytes(b""), "is empty"),
        (lambda p: p.mkdir(), "is a directory"),
    ],
    ids=["garbage", "empty", "folder"],
)
def test_doctor_root_that_is_not_a_certificate_is_one_line(
    lab_cli, shared_course_dir, tmp_path, make, phrase
):
    root = tmp_path / "root.pem"
    make(root)
    one_line_error(lab_cli("doctor", "--dir", shared_course_dir, "--root", root), phrase)


# ------------------------------------------------------------ under misuse: links and modes
def test_writes_replace_a_link_and_never_write_through_it(lab_cli, course_dir, tmp_path):
    target = tmp_path / "victim.txt"
    target.write_text("precious")
    target.chmod(0o644)
    for name in ("client.key", "client.pfx", "pfx-password.txt"):
        (course_dir / name).unlink()
        (course_dir / name).symlink_to(target)
    ok(lab_cli("pki", "init", "--dir", course_dir, "--force"))
    assert target.read_text() == "precious" and stat.S_IMODE(target.stat().st_mode) == 0o644
    assert not any((course_dir / n).is_symlink() for n in ("client.key", "client.pfx"))
    assert pki.load_pair(course_dir / "client.crt", course_dir / "client.key").key_matches


def test_a_dangling_link_as_dir_is_one_clear_line(lab_cli, tmp_path):
    (tmp_path / "certs").symlink_to(tmp_path / "gone")
    one_line_error(lab_cli("pki", "init", "--dir", tmp_path / "certs"), "a link to nothing")


def test_umask_000_leaves_no_file_or_folder_writable_by_others(tmp_path):
    script = "import os, sys; os.umask(0); from lab import cli; sys.exit(cli.main(sys.argv[1:]))"
    target = tmp_path / "a" / "certs"
    run = subprocess.run(
        [sys.executable, "-c", script, "pki", "init", "--dir", str(target)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    for folder in (tmp_path / "a", target):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in target.iterdir()}
    assert modes["rootCA.pem"] == modes["server.crt"] == 0o644
    assert modes["rootCA.key"] == modes["client.pfx"] == modes["pfx-password.txt"] == 0o600


# ------------------------------------------------------------------ SAN types
@pytest.mark.parametrize(
    "option, value, phrase",
    [
        ("--email", "127.0.0.1", "is not an email address"),
        ("--uri", "javascript:alert(1)", "is not a URI of the form scheme://host"),
        ("--dns", "127.0.0.1", "is not a DNS host name"),
        ("--ip", "alice.example", "is not an IP address"),
    ],
)
def test_each_san_option_refuses_a_value_of_another_type(
    lab_cli, course_dir, option, value, phrase
):
    one_line_error(
        lab_cli("pki", "issue", "client", "eve", option, value, "--dir", course_dir), phrase
    )
    assert not (course_dir / "eve.crt").exists()


def test_each_san_option_makes_its_own_type(lab_cli, course_dir):
    options = ["--email", "eve@lab.test", "--uri", "spiffe://lab.test/eve", "--ip", "::1"]
    ok(
        lab_cli(
            "pki", "issue", "client", "eve", *options, "--dns", "eve.lab.test", "--dir", course_dir
        )
    )
    san = pki.load_certificate(course_dir / "eve.crt").extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    assert san.value.get_values_for_type(x509.RFC822Name) == ["eve@lab.test"]
    assert san.value.get_values_for_type(x509.UniformResourceIdentifier) == [
        "spiffe://lab.test/eve"
    ]
    assert [str(ip) for ip in san.value.get_values_for_type(x509.IPAddress)] == ["::1"]
    assert san.value.get_values_for_type(x509.DNSName) == ["eve.lab.test"]


# ------------------------------------------------------------------ what is read
def test_show_of_a_device_or_a_pipe_is_one_clear_line_and_does_not_hang(lab_cli, tmp_path):
    one_line_error(lab_cli("pki", "show", "/dev/zero"), "not a regular file")
    os.mkfifo(tmp_path / "pipe.crt")
    started = time.monotonic()
    one_line_error(lab_cli("pki", "show", tmp_path / "pipe.crt"), "not a regular file")
    assert time.monotonic() - started < 5


def test_a_file_larger_than_any_certificate_is_refused_unread(lab_cli, tmp_path):
    big = tmp_path / "big.pem"
    with open(big, "wb") as f:
        f.truncate(pki.files.MAX_FILE_BYTES + 1)  # sparse: no disk used
    one_line_error(lab_cli("pki", "show", big), "larger than any certificate file")


def _der(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


def _pfx(identity, rounds: int = 65536) -> bytes:
    enc = (
        PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(rounds)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(b"pw")
    )
    return pkcs12.serialize_key_and_certificates(b"x", identity.key, identity.cert, None, enc)


def _with_mac_iterations(pfx: bytes, count: int) -> bytes:
    """The same PFX with its MacData's iteration count replaced (RFC 7292: the last INTEGER)."""
    assert pfx[:2] == b"\x30\x82" and pfx[7:9] == b"\x30\x82"
    mac_start = 11 + int.from_bytes(pfx[9:11], "big")
    mac = pfx[mac_start:]
    assert mac[0] == 0x30 and mac[1] < 0x80 and mac[-4:-2] == b"\x02\x02"
    new_mac = _der(0x30, mac[2:-4] + _der(0x02, count.to_bytes(4, "big")))
    return _der(0x30, pfx[4:mac_start] + new_mac)


@pytest.mark.parametrize(
    "patch, phrase",
    [
        (lambda d: _with_mac_iterations(d, 2**31 - 1), "a MAC iteration count of 2,147,483,647"),
        (
            lambda d: d.replace(b"\x02\x03\x01\x00\x00", b"\x02\x03\x7f\xff\xff", 1),
            "a key-derivation iteration count of 8,388,607",
        ),
    ],
    ids=["mac", "pbkdf2"],
)
def test_a_pfx_with_a_hostile_iteration_count_is_refused_before_any_key_is_derived(
    lab_cli, client_identity, tmp_path, patch, phrase
):
    hostile = tmp_path / "hostile.pfx"
    hostile.write_bytes(patch(_pfx(client_identity)))
    started = time.monotonic()
    one_line_error(lab_cli("pki", "show", hostile, "--password", "pw"), phrase, "refuses it")
    status = lab_cli("pki", "status", "--dir", tmp_path, "--password", "pw")
    assert status.rc == 1 and "iteration count" in status.stdout, status
    assert time.monotonic() - started < 10  # a count of 2**31 - 1 would take minutes


def test_a_pfx_at_the_limit_still_opens(client_identity, tmp_path):
    """Two bags at 300,000 each: at the individual limit, and under the total."""
    path = pki.write_private(tmp_path / "edge.pfx", _pfx(client_identity, rounds=300_000))
    assert pki.load_pkcs12(path, "pw").key_matches


def test_the_lab_s_own_pfx_is_within_the_limits(client_identity, tmp_path):
    path = client_identity.to_pkcs12(tmp_path / "alice.pfx", "pw")
    mac, kdfs = pki.files.pkcs12_iterations(path.read_bytes())
    assert mac <= MAC_ITERATION_LIMIT and kdfs == [100_000, 100_000]


# ------------------------------------------------------------------ revocation
def test_revoke_matches_the_issuer_by_key_not_by_name(root_ca):
    name = root_ca.cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    twin = pki.CertificateAuthority.create(name)  # the same DN, another key
    assert twin.cert.subject == root_ca.cert.subject
    with pytest.raises(RevocationError, match="not issued by this CA's key"):
        Revocations(root_ca).revoke(twin.issue_client("mallory"))


def test_a_ca_cannot_revoke_itself(lab_cli, course_dir):
    one_line_error(lab_cli("pki", "revoke", "rootCA.pem", "--dir", course_dir), "own certificate")
    assert not (course_dir / "crl.pem").exists()


def test_a_crl_write_cut_short_leaves_the_old_crl_whole(lab_cli, course_dir):
    ok(lab_cli("pki", "issue", "client", "bob", "--dir", course_dir))
    ok(lab_cli("pki", "revoke", "bob", "--dir", course_dir))
    before = (course_dir / "crl.pem").read_bytes()

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))  # writes past 64 bytes fail (EFBIG)

    run = subprocess.run(
        [sys.executable, "-m", "lab", "pki", "crl", "--dir", str(course_dir)],
        capture_output=True,
        text=True,
        preexec_fn=small_files,
    )
    assert run.returncode == 1, run
    assert (course_dir / "crl.pem").read_bytes() == before
    assert not [p.name for p in course_dir.iterdir() if p.name.startswith(".")]
    ok(lab_cli("pki", "revoke", "client", "--dir", course_dir))  # the record still works


def test_a_corrupt_file_error_is_what_a_bad_pfx_raises(tmp_path):
    (tmp_path / "x.pfx").write_bytes(b"\x30\x03\x02\x01")
    with pytest.raises(CorruptFileError, match="truncated or not a PKCS#12 bundle"):
        pki.load_pkcs12(tmp_path / "x.pfx", "pw")


@pytest.mark.parametrize(
    "name", ["rootCA.key", "rootCA", "ROOTCA", "Server", "server.pem", "server.crt"]
)
def test_issuing_a_client_from_python_never_touches_the_pki_s_own_files(course_dir, name):
    """The same refusal as the command line's, for a notebook or a script calling coursepki."""
    before = {p.name: p.read_bytes() for p in course_dir.iterdir()}
    with pytest.raises(PKIExistsError, match="a file of the CA or the server"):
        coursepki.issue_client(name, course_dir)
    assert {p.name: p.read_bytes() for p in course_dir.iterdir()} == before
