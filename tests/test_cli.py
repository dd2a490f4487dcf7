"""The command line's shared conventions: a closed pipe ends quietly, a bad port is a usage error."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def test_break_list_piped_into_a_reader_that_stops_early_ends_quietly():
    # `python -m lab break --list | head -1`: head exits after one line and closes the pipe.
    lab = subprocess.Popen(
        [sys.executable, "-m", "lab", "break", "--list"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    first = lab.stdout.readline()
    lab.stdout.close()  # what head does once it has its lines
    err = lab.stderr.read().decode()
    lab.stderr.close()
    rc = lab.wait(timeout=60)
    assert first.strip()
    assert err == "", err
    assert rc in (0, 141)  # 0 if it had already written everything into the pipe


def test_break_list_into_a_closed_pipe_is_not_an_error_line():
    # The pipe is closed before the command writes anything: every write fails.
    read, write = os.pipe()
    os.close(read)
    proc = subprocess.run(
        [sys.executable, "-m", "lab", "break", "--list"],
        stdout=write,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
    )
    os.close(write)
    assert proc.stderr == ""
    assert proc.returncode == 141


@pytest.mark.parametrize("command", ["serve", "ocsp"])
@pytest.mark.parametrize("value", ["99999", "-1", "http"])
def test_a_port_out_of_range_is_a_usage_error(run_lab, command, value):
    result = run_lab(command, "--port", value, timeout=60)
    assert result.rc == 2
    assert not result.has_traceback
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "is not a port number (0-65535" in errors[0]


def test_serve_takes_dir_like_every_other_command_and_keeps_certs_as_a_hidden_alias(run_lab):
    result = run_lab("serve", "--help", timeout=60)
    assert "--dir" in result.stdout and "--certs" not in result.stdout
    missing = run_lab("serve", "--certs", "/nonexistent/pki", "--port", "0", timeout=60)
    assert missing.rc == 1 and "/nonexistent/pki" in missing.stderr
