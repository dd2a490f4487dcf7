"""lab.socketfile: the lab server's reader and writer, over real socket pairs.

The buffering is checked over a connected socket pair (no TLS is involved in
what these classes do); tests/test_server.py checks the same files inside the
lab server, over real mTLS.
"""

from __future__ import annotations

import socket
import threading

import pytest

from lab.tls import socketfile


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    a.settimeout(5)
    b.settimeout(5)
    yield a, b
    a.close()
    b.close()


def send_in_pieces(sock, *pieces):
    """Send each piece separately, so the reader has to call recv more than once."""

    def run():
        for piece in pieces:
            sock.sendall(piece)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_readline_returns_each_line_with_its_newline_across_recv_boundaries(pair):
    a, b = pair
    send_in_pieces(a, b"GET / HT", b"TP/1.1\r\nHost: x\r", b"\n\r\n").join()
    reader = socketfile.Reader(b)
    assert [reader.readline(), reader.readline(), reader.readline()] == [
        b"GET / HTTP/1.1\r\n",
        b"Host: x\r\n",
        b"\r\n",
    ]
    assert reader.bytes_read == len(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")


def test_readline_with_a_size_stops_at_the_size_and_keeps_the_rest(pair):
    a, b = pair
    a.sendall(b"abcdefgh\nnext\n")
    reader = socketfile.Reader(b)
    assert reader.readline(3) == b"abc"
    assert reader.readline(100) == b"defgh\n"
    assert reader.readline() == b"next\n"


def test_readline_without_newline_returns_the_rest_at_end_of_stream(pair):
    a, b = pair
    a.sendall(b"no newline")
    a.shutdown(socket.SHUT_WR)
    reader = socketfile.Reader(b)
    assert reader.readline() == b"no newline"
    assert reader.readline() == b""


def test_read_returns_exactly_size_bytes_and_keeps_the_next_request(pair):
    a, b = pair
    sender = send_in_pieces(a, b"x" * 70000, b"y" * 5000, b"GET /next")
    reader = socketfile.Reader(b)
    body = reader.read(75000)
    sender.join()
    assert body == b"x" * 70000 + b"y" * 5000
    assert reader.read(9) == b"GET /next"


def test_has_data_tells_a_pipelined_request_already_received(pair):
    a, b = pair
    a.sendall(b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n")  # one write, one recv
    reader = socketfile.Reader(b)
    assert not reader.has_data()
    assert reader.readline() == b"GET /a HTTP/1.1\r\n" and reader.readline() == b"\r\n"
    assert reader.has_data()
    assert reader.readline() == b"GET /b HTTP/1.1\r\n" and reader.readline() == b"\r\n"
    assert not reader.has_data()


def test_read_without_size_reads_to_end_of_stream(pair):
    a, b = pair
    a.sendall(b"first\nrest of it")
    a.shutdown(socket.SHUT_WR)
    reader = socketfile.Reader(b)
    assert reader.readline() == b"first\n"
    assert reader.read() == b"rest of it"
    assert reader.read(10) == b""


def test_iteration_yields_lines_until_end_of_stream(pair):
    a, b = pair
    a.sendall(b"one\ntwo\n")
    a.shutdown(socket.SHUT_WR)
    assert list(socketfile.Reader(b)) == [b"one\n", b"two\n"]


def test_a_read_timeout_surfaces_as_the_socket_raised_it(pair):
    _, b = pair
    b.settimeout(0.05)
    with pytest.raises(TimeoutError):
        socketfile.Reader(b).readline()


def test_writer_sends_each_write_as_it_comes_when_not_holding(pair):
    a, b = pair
    writer = socketfile.Writer(a)
    assert writer.write(b"head") == 4
    assert b.recv(100) == b"head"
    assert writer.bytes_written == 4


def test_a_held_write_leaves_together_with_the_next_one(pair):
    a, b = pair
    writer = socketfile.Writer(a)
    writer.hold_next()
    assert writer.write(b"HTTP/1.1 200 OK\r\n\r\n") == 19
    b.setblocking(False)
    with pytest.raises(BlockingIOError):
        b.recv(100)  # nothing sent yet
    b.setblocking(True)
    assert writer.write(b"body") == 4
    assert b.recv(100) == b"HTTP/1.1 200 OK\r\n\r\nbody"
    assert writer.write(b"more") == 4  # holding applied to one write only
    assert b.recv(100) == b"more"


def test_release_sends_a_held_write_that_no_write_followed(pair):
    a, b = pair
    writer = socketfile.Writer(a)
    writer.hold_next()
    writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
    writer.release()
    assert b.recv(100) == b"HTTP/1.1 204 No Content\r\n\r\n"
    writer.release()  # nothing held: nothing sent, no error
    assert writer.bytes_written == len(b"HTTP/1.1 204 No Content\r\n\r\n")


def test_writing_to_a_closed_writer_is_a_clear_error(pair):
    writer = socketfile.Writer(pair[0])
    writer.close()
    with pytest.raises(ValueError, match="closed"):
        writer.write(b"x")


def test_makefile_gives_a_reader_for_r_and_a_writer_for_w(pair):
    assert isinstance(socketfile.makefile(pair[0], "rb", 8192), socketfile.Reader)
    assert isinstance(socketfile.makefile(pair[0], "wb", 8192), socketfile.Writer)
