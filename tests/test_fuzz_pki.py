"""Fuzzed files: whatever bytes a learner points the lab at, only the lab's own errors come out.

Random bytes, and valid PEM, DER and PKCS#12 files with bytes flipped, inserted, deleted or
cut off, go to the loaders, to ``pki show`` (the function behind it, and real subprocesses)
and to the doctor. Each may succeed or raise a :class:`lab.errors.LabError` (one clear line
in the CLI); any other exception is a bug, and so is a file written anywhere.

Bounded so the suite stays fast: ``max_examples`` per target (``LAB_FUZZ_EXAMPLES`` raises it
for a longer hunt), no deadline (the machine is shared), no example database (nothing written
into the checkout). Found so far: certificates whose damaged version, name or extension only
fails when first read (now refused at load time by ``lab.pki.files.checked``).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lab import pki
from lab.cli.commands import pki as pki_command
from lab.errors import LabError
from lab.ops import doctor

PASSWORD = "fuzz-password"
FUZZ = settings(
    max_examples=int(os.environ.get("LAB_FUZZ_EXAMPLES", "60")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def seeds(client_identity):
    """Valid files of every kind the lab reads, as bytes: the starting points for mutation."""
    with tempfile.TemporaryDirectory() as d:
        pfx = client_identity.to_pkcs12(Path(d) / "c.pfx", PASSWORD).read_bytes()
    return {
        "pem": client_identity.chain_pem,
        "der": client_identity.cert.public_bytes(serialization.Encoding.DER),
        "key": client_identity.key_pem(),
        "pfx": pfx,
    }


@st.composite
def mutated(draw, seeds_by_kind):
    """A valid file with a few bytes flipped, inserted or deleted, or cut short."""
    data = bytearray(seeds_by_kind[draw(st.sampled_from(sorted(seeds_by_kind)))])
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        else:
            del data[at:]
    return bytes(data)


def payloads(seeds_by_kind):
    return st.one_of(st.binary(max_size=2048), mutated(seeds_by_kind))


def listing(folder: Path) -> list[tuple[str, int]]:
    return sorted((p.name, p.stat().st_size) for p in folder.iterdir())


def only_lab_errors(call, folder: Path) -> None:
    """Run ``call``: it may return or raise a LabError, nothing else; the folder is unchanged."""
    before = listing(folder)
    try:
        call()
    except LabError:
        pass
    assert listing(folder) == before


SUFFIXES = [".crt", ".pem", ".der", ".key", ".pfx", ".bin"]


def test_loaders_raise_only_lab_errors(seeds):
    @FUZZ
    @given(data=payloads(seeds), suffix=st.sampled_from(SUFFIXES))
    def run(data, suffix):
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / f"fuzzed{suffix}"
            path.write_bytes(data)
            folder = Path(d)
            only_lab_errors(lambda: pki.load_certificates(path), folder)
            only_lab_errors(lambda: pki.load_private_key(path), folder)
            only_lab_errors(lambda: pki.load_private_key(path, PASSWORD), folder)
            only_lab_errors(lambda: pki.load_pkcs12(path, PASSWORD), folder)
            only_lab_errors(lambda: pki.load_pkcs12(path, None), folder)
            only_lab_errors(lambda: pki.load_identity(path, password=PASSWORD), folder)

    run()


def test_pki_show_raises_only_lab_errors(seeds, capsys):
    @FUZZ
    @given(data=payloads(seeds), suffix=st.sampled_from([".crt", ".der", ".pfx"]))
    def run(data, suffix):
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / f"fuzzed{suffix}"
            path.write_bytes(data)
            args = argparse.Namespace(file=path, password=PASSWORD)
            only_lab_errors(lambda: pki_command._show(args), Path(d))
            capsys.readouterr()

    run()


def test_the_doctor_reports_instead_of_raising(seeds):
    @FUZZ
    @given(data=payloads(seeds), suffix=st.sampled_from(SUFFIXES))
    def run(data, suffix):
        with tempfile.TemporaryDirectory() as d:
            folder = Path(d)
            (folder / f"fuzzed{suffix}").write_bytes(data)
            before = listing(folder)
            report = doctor.examine(directory=folder, password=PASSWORD)
            assert report.files == [f"fuzzed{suffix}"]
            assert listing(folder) == before

    run()


@pytest.mark.parametrize("kind", ["pem", "pfx"])
def test_pki_show_on_a_damaged_file_is_one_line_in_a_real_process(run_lab, seeds, tmp_path, kind):
    data = seeds[kind]
    damaged = tmp_path / f"damaged.{'crt' if kind == 'pem' else 'pfx'}"
    damaged.write_bytes(data[: len(data) // 2] + bytes(b ^ 0x5A for b in data[len(data) // 2 :]))
    before = listing(tmp_path)
    run = run_lab("pki", "show", damaged, "--password", PASSWORD)
    assert run.rc == 1 and not run.has_traceback, run
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "unexpected" not in lines[0]
    assert listing(tmp_path) == before


# ---------------------------------------- what the fuzzing found, pinned as plain tests
@pytest.mark.parametrize(
    "good, bad",
    [
        (b"\xa0\x03\x02\x01\x02", b"\xa0\x03\x02\x01\x03"),  # version 4: InvalidVersion
        (b"\x06\x03U\x04\n\x0c\x08mTLS Lab", b"\x06\x03U\x04\n\x03\x08mTLS Lab"),  # O as BIT STRING
    ],
    ids=["invalid-version", "name-as-bit-string"],
)
def test_a_certificate_damaged_inside_is_refused_when_loaded_not_when_shown(
    seeds, tmp_path, good, bad, capsys
):
    """cryptography reads these fields lazily; without a check at load time, `pki show` and
    the doctor crashed with InvalidVersion or TypeError on the first read."""
    assert good in seeds["der"]
    damaged = tmp_path / "damaged.der"
    damaged.write_bytes(seeds["der"].replace(good, bad, 1))
    with pytest.raises(LabError, match="damaged.der"):
        pki.load_certificates(damaged)
    with pytest.raises(LabError):
        pki_command._show(argparse.Namespace(file=damaged, password=None))
    assert doctor.examine([damaged]).errors
