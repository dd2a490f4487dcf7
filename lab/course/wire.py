"""The TLS handshake as it crosses the wire, read by ``openssl s_client``.

Why a helper: ``openssl s_client -trace`` prints several hundred lines per
handshake (every extension, every random byte, each certificate in full), and
the lengths in it change from run to run (an ECDSA signature is 70 to 72
bytes). A learner needs the dozen lines that matter: which message, in which
direction, and for a Certificate message, whose certificates it carries. This
module runs the real ``openssl`` against a real server and keeps exactly that,
in the same words every time.

``-trace`` needs an OpenSSL built with ``enable-ssl-trace`` (Debian, Ubuntu and
Homebrew builds have it). Without it the helper falls back to ``-msg``, which
names the messages but not the certificates inside them, and says so.

The trace stops at the client's ``Finished``: what follows (session tickets,
the shutdown) arrives in an order that depends on timing, and is not the
handshake. A refused handshake ends with the server's alert instead.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from lab.course.env import find_tool
from lab.errors import LabError

#: TLS alert numbers (RFC 8446 §6, RFC 5246 §7.2) -> their names in the RFC.
#: OpenSSL 3.0's -trace table lacks the TLS 1.3 ones and prints "unknown(116)".
ALERTS = {
    0: "close_notify",
    10: "unexpected_message",
    20: "bad_record_mac",
    40: "handshake_failure",
    42: "bad_certificate",
    43: "unsupported_certificate",
    44: "certificate_revoked",
    45: "certificate_expired",
    46: "certificate_unknown",
    47: "illegal_parameter",
    48: "unknown_ca",
    49: "access_denied",
    50: "decode_error",
    51: "decrypt_error",
    70: "protocol_version",
    80: "internal_error",
    109: "missing_extension",
    112: "unrecognized_name",
    116: "certificate_required",
}
_ALERT_NUMBERS = {name: number for number, name in ALERTS.items()}

_LOOPBACK = ("localhost", "127.0.0.1", "::1")
_RECORD = re.compile(r"^(Sent|Received) Record$")
_MESSAGE = re.compile(r"^    ([A-Za-z]+), Length=\d+$")
_SUBJECT = re.compile(r"^ +Subject: .*?CN = ([^,]+)")
_TRACE_ALERT = re.compile(r"^    Level=(\w+)\(\d+\), description=.*\((\d+)\)$")
_MSG_LINE = re.compile(r"^(>>>|<<<) [^,]+, (Handshake|Alert) \[length ([0-9a-fA-F]+)\], (.+)$")


@dataclass
class Message:
    """One handshake message or alert: who sent it, its name, and what it says that matters."""

    sender: str  # "client" or "server"
    name: str
    detail: str = ""

    def __str__(self) -> str:
        receiver = "server" if self.sender == "client" else "client"
        line = f"{self.sender} -> {receiver}  {self.name:<20}"
        return f"{line}{self.detail}".rstrip()


@dataclass
class Trace:
    """The handshake's messages in order, and how they were read (``-trace`` or ``-msg``)."""

    messages: list[Message] = field(default_factory=list)
    option: str = "-trace"

    @property
    def names(self) -> list[str]:
        return [f"{m.sender} {m.name}" for m in self.messages]

    @property
    def alert(self) -> Message | None:
        return next((m for m in self.messages if m.name == "Alert"), None)

    def __str__(self) -> str:
        return "\n".join(str(m) for m in self.messages)

    __repr__ = __str__


def trace_handshake(
    url: str,
    *,
    cafile: str | Path,
    cert: str | Path | None = None,
    key: str | Path | None = None,
    option: str | None = None,
    timeout: float = 10,
) -> Trace:
    """Run ``openssl s_client`` against ``url`` once and return the handshake it saw.

    ``cert``/``key``: the client certificate to present (none if omitted).
    ``option``: ``"-trace"`` or ``"-msg"``; by default ``-trace`` when this OpenSSL has it.
    """
    exe = find_tool("openssl")
    if not exe:
        raise LabError("openssl is not installed: apt-get install openssl (Linux)")
    option = option or ("-trace" if has_trace(exe) else "-msg")
    if option not in ("-trace", "-msg"):
        raise ValueError(f"option must be '-trace' or '-msg', not {option!r}")
    parts = urlsplit(url)
    host = parts.hostname or ""
    if host not in _LOOPBACK or parts.port is None:
        raise LabError(
            f"trace_handshake reads handshakes with a lab server on this machine only "
            f"(https://localhost:PORT or https://127.0.0.1:PORT), not {url!r}"
        )
    address = "127.0.0.1" if host == "localhost" else host  # lab servers bind 127.0.0.1
    connect = f"[{address}]:{parts.port}" if ":" in address else f"{address}:{parts.port}"
    args = [exe, "s_client", "-connect", connect, "-servername", "localhost"]
    # -ign_eof: s_client does not hang up when its (empty) input ends; it reads until the
    # server's first message after the handshake (a session ticket, or the refusal's alert).
    args += ["-CAfile", str(cafile), option, "-ign_eof"]
    # -groups: offer P-256 first, the one group the lab's servers accept (lab.tls.policy).
    # s_client sends a key share for its first group only; led by X25519, as by default,
    # the server would first answer with a HelloRetryRequest asking for P-256.
    args += ["-groups", "P-256:X25519"]
    if cert is not None:
        args += ["-cert", str(cert), "-key", str(key if key is not None else cert)]
    with tempfile.TemporaryDirectory() as tmp:
        chain = _chain_below_the_leaf(cert, Path(tmp)) if cert is not None else None
        if chain:
            args += ["-cert_chain", str(chain)]
        text = _read_until_the_handshake_is_over(args, option, timeout)
    parse = _parse_trace if option == "-trace" else _parse_msg
    return Trace(_until_the_end_of_the_handshake(parse(text)), option)


def has_trace(exe: str | None = None) -> bool:
    """Whether this ``openssl s_client`` was built with ``-trace``."""
    exe = exe or find_tool("openssl")
    if not exe:
        return False
    out = subprocess.run([exe, "s_client", "-help"], capture_output=True, text=True, timeout=10)
    return re.search(r"^ *-trace\b", out.stdout + out.stderr, re.M) is not None


def _chain_below_the_leaf(cert: str | Path, tmp: Path) -> Path | None:
    """The certificates after the first in ``cert``, as a file, or None when there are none.

    ``s_client -cert`` sends only the first certificate of its file, and ``-cert_chain``
    sends every certificate of its file, so the leaf must not be in the second one.
    """
    blocks = re.findall(
        r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n?",
        Path(cert).read_text(errors="replace"),
        re.S,
    )
    if len(blocks) < 2:
        return None
    chain = tmp / "chain.pem"
    chain.write_text("".join(blocks[1:]))
    return chain


def _read_until_the_handshake_is_over(args: list[str], option: str, timeout: float):
    """s_client's output up to the server's first message after the client's Finished.

    Then s_client is stopped: a successful handshake would otherwise sit idle until
    the server's keep-alive timeout closes the connection.
    """
    proc = subprocess.Popen(
        args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    lines: list[str] = []
    sender, client_finished = "client", False
    try:
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            name, sender = _message_name(lines[-1], option, sender)
            if name is None:
                continue
            if client_finished and sender == "server":
                break
            client_finished = client_finished or (sender == "client" and name == "Finished")
    finally:
        timer.cancel()
        proc.kill()
        proc.stdout.close()
        proc.wait()
    return "\n".join(lines)


def _message_name(line: str, option: str, sender: str) -> tuple[str | None, str]:
    """(message name or None, sender after this line) for one line of s_client's output."""
    if option == "-trace":
        if m := _RECORD.match(line):
            return None, "client" if m.group(1) == "Sent" else "server"
        if m := _MESSAGE.match(line):
            return m.group(1), sender
        return ("Alert" if _TRACE_ALERT.match(line) else None), sender
    if m := _MSG_LINE.match(line):
        who = "client" if m.group(1) == ">>>" else "server"
        return ("Alert" if m.group(2) == "Alert" else m.group(4).strip()), who
    return None, sender


def _parse_trace(text: str) -> list[Message]:
    messages: list[Message] = []
    sender = "client"
    current: Message | None = None
    for line in text.splitlines():
        if m := _RECORD.match(line):
            sender = "client" if m.group(1) == "Sent" else "server"
            current = None
        elif m := _MESSAGE.match(line):
            current = Message(sender, m.group(1))
            messages.append(current)
        elif m := _TRACE_ALERT.match(line):
            number = int(m.group(2))
            name = ALERTS.get(number, "alert")
            messages.append(Message(sender, "Alert", f"{m.group(1)} {name} ({number})"))
            current = None
        elif current is not None:
            _add_detail(current, line)
    return messages


def _add_detail(message: Message, line: str) -> None:
    """Keep what a learner needs from a message's body, in stable words."""
    if message.name == "Certificate":
        if "certificate_list, length=0" in line:
            message.detail = "(empty: no certificate)"
        elif m := _SUBJECT.match(line):
            names = [n for n in message.detail.split(", ") if n]
            message.detail = ", ".join([*names, f"CN={m.group(1)}"])
    elif message.name == "CertificateRequest":
        if "extension_type=certificate_authorities" in line:
            message.detail = "send a certificate from one of these CAs"
        elif "extension_type=signature_algorithms(" in line and not message.detail:
            message.detail = "send a certificate (no list of accepted CAs)"
    elif message.name == "ServerHello" and line.strip() == "TLS 1.3 (772)":
        message.detail = "TLS 1.3"


def _parse_msg(text: str) -> list[Message]:
    messages: list[Message] = []
    for line in text.splitlines():
        m = _MSG_LINE.match(line)
        if not m:
            continue
        sender = "client" if m.group(1) == ">>>" else "server"
        kind, length, name = m.group(2), int(m.group(3), 16), m.group(4).strip()
        if kind == "Alert":
            level, _, description = name.partition(" ")
            number = _ALERT_NUMBERS.get(description)
            detail = f"{level} {description}" + (f" ({number})" if number is not None else "")
            messages.append(Message(sender, "Alert", detail))
        else:
            # an empty TLS 1.3 Certificate: 4-byte header, empty context, empty list
            empty = name == "Certificate" and length == 8
            messages.append(Message(sender, name, "(empty: no certificate)" if empty else ""))
    return messages


def _until_the_end_of_the_handshake(messages: list[Message]) -> list[Message]:
    """Up to the client's Finished, then only an alert (what follows depends on timing)."""
    out: list[Message] = []
    finished = False
    for message in messages:
        if not finished:
            out.append(message)
            finished = message.sender == "client" and message.name == "Finished"
        elif message.name == "Alert" and message.sender == "server":
            out.append(message)
            break
    return out


__all__ = ["ALERTS", "Message", "Trace", "has_trace", "trace_handshake"]
