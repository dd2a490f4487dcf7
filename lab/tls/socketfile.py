"""The lab server's socket files: cheroot's reader and writer, without ``_pyio``.

Why: cheroot reads requests and writes responses through buffered files built on
``_pyio``, the pure-Python twin of :mod:`io` (it imports it on purpose, to
reach the write buffer). Each request-line and header ``readline`` goes through
several layers of Python (``BufferedReader.readline`` -> ``peek`` ->
``_peek_unlocked`` -> ``SocketIO.readinto``), and every response goes out in two
TLS writes: cheroot writes the head as soon as it is built, then the body. On a
new mTLS connection that is all on the critical path, between the end of the
handshake and the client's first byte of answer.

:class:`Reader` keeps one ``bytes`` buffer and finds lines with ``bytes.find``;
:class:`Writer` sends with ``sendall`` and can *hold* the response head so that
it leaves in the same TLS record as the first piece of body
(:meth:`Writer.hold_next`, :meth:`Writer.release`; ``lab.server`` arms it for
every response). Measured with ``lab.bench``'s paired method: about 3-4 % more
new connections per second on the lab server (0.83 to 0.87 of the raw ``ssl``
baseline), a fifth of the gap. They implement exactly what cheroot calls: ``read``,
``readline``, iteration, ``has_data``, ``write``, ``flush`` and ``close``.
Timeouts and resets surface as the socket raised them, as with cheroot's own
files, so cheroot's error handling is unchanged.
"""

from __future__ import annotations

#: How much one ``recv`` asks for. A TLS record carries at most 16 KiB, so an
#: SSL socket returns at most that; a plain socket may return more.
RECV_SIZE = 65536


class Reader:
    """A buffered reader over a socket (plain or TLS) with what cheroot needs."""

    __slots__ = ("sock", "_buf", "_pos", "closed", "bytes_read")

    def __init__(self, sock):
        self.sock = sock
        self._buf = b""
        self._pos = 0
        self.closed = False
        self.bytes_read = 0

    def has_data(self) -> bool:
        """True when bytes already received wait in the buffer (a pipelined request)."""
        return len(self._buf) > self._pos

    def _fill(self) -> bool:
        data = self.sock.recv(RECV_SIZE)
        self._buf = (self._buf[self._pos :] if self._pos else self._buf) + data
        self._pos = 0
        return bool(data)

    def readline(self, size: int | None = -1) -> bytes:
        """One line, newline included; at most ``size`` bytes; ``b""`` at end of stream."""
        size = -1 if size is None else size
        while True:
            end = self._buf.find(b"\n", self._pos)
            if end >= 0:
                end += 1
                if 0 <= size < end - self._pos:
                    end = self._pos + size
                break
            if 0 <= size <= len(self._buf) - self._pos:
                end = self._pos + size
                break
            if not self._fill():
                end = len(self._buf)
                break
        line = self._buf[self._pos : end]
        self._pos = end
        self.bytes_read += len(line)
        return line

    def read(self, size: int | None = -1) -> bytes:
        """``size`` bytes (fewer only at end of stream); everything to the end if ``size < 0``."""
        size = -1 if size is None else size
        chunks = [self._buf[self._pos :]]
        have = len(chunks[0])
        self._buf, self._pos = b"", 0
        while size < 0 or have < size:
            data = self.sock.recv(RECV_SIZE)
            if not data:
                break
            chunks.append(data)
            have += len(data)
        data = b"".join(chunks)
        if 0 <= size < len(data):
            self._buf, data = data[size:], data[:size]
        self.bytes_read += len(data)
        return data

    def __iter__(self):
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def close(self) -> None:
        """Forget the buffer; the socket is closed by its connection, not here."""
        self.closed = True
        self._buf, self._pos = b"", 0


class Writer:
    """An unbuffered writer over a socket that can hold one write and join it to the next."""

    __slots__ = ("sock", "_holding", "_held", "closed", "bytes_written")

    def __init__(self, sock):
        self.sock = sock
        self._holding = False
        self._held: bytes | None = None
        self.closed = False
        self.bytes_written = 0

    def hold_next(self) -> None:
        """Keep the next write back; it leaves with the write after it, or at :meth:`release`."""
        self._holding = True

    def release(self) -> None:
        """Send a held write now (if any) and stop holding."""
        self._holding = False
        held, self._held = self._held, None
        if held:
            self._send(held)

    def write(self, data) -> int:
        if self.closed:
            raise ValueError("write to a closed socket file")
        written = len(data)
        if self._holding:
            self._holding = False
            self._held = bytes(data)
        elif self._held is not None:
            data, self._held = self._held + bytes(data), None
            self._send(data)
        else:
            self._send(data)
        return written

    def _send(self, data) -> None:
        self.sock.sendall(data)
        self.bytes_written += len(data)

    def flush(self) -> None:
        """Nothing to do: only a held write is ever kept, and :meth:`release` sends it."""

    def close(self) -> None:
        self.closed = True
        self._held = None


def makefile(sock, mode: str = "r", bufsize: int = -1):
    """cheroot's ``makefile(sock, mode, bufsize)`` signature; ``bufsize`` is not used."""
    return Reader(sock) if "r" in mode else Writer(sock)
