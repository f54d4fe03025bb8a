"""The metrics listener holds to its limits on a real `wharf serve` (default
limits: 64 connections, 10 s to send a request, 16 KiB of headers): idle
sockets, a head that never ends, a chunk size of 2^64-1 and garbage neither
hang it nor starve /healthz or MQTT clients."""
import socket
import time

import rawmqtt as raw

IDLE_SOCKETS = 200
MAX_CONNECTIONS = 64
# Set in the test through [metrics] request_timeout (the default is 10 s).
REQUEST_READ_TIMEOUT = 2.0


def open_http(broker) -> socket.socket:
    return socket.create_connection(("127.0.0.1", broker.metrics_port), timeout=2)


def read_until_closed(sock: socket.socket, timeout: float, received: bytearray | None = None):
    """Everything the server sends until it closes; None if it is still open after timeout.
    `received` keeps what arrived across calls: an answer can come just before
    one call's time is up and the close just after."""
    deadline = time.monotonic() + timeout
    data = received if received is not None else bytearray()
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, TimeoutError):
            return None
        except ConnectionResetError:
            return bytes(data)
        if not chunk:
            return bytes(data)
        data += chunk


def status(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def is_closed_by_server(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


def test_idle_http_connections_starve_neither_healthz_nor_mqtt(broker, uid):
    idle = [open_http(broker) for _ in range(IDLE_SOCKETS)]
    try:
        started = time.monotonic()
        with open_http(broker) as probe:
            probe.sendall(b"GET /healthz HTTP/1.1\r\nHost: wharf\r\nConnection: close\r\n\r\n")
            response = read_until_closed(probe, timeout=2)
        assert response is not None and status(response) == 200, response
        assert time.monotonic() - started < 2

        started = time.monotonic()
        mqtt = raw.RawClient(broker.port, timeout=2)
        assert mqtt.connect(f"{uid}-c")[:2] == (False, 0)
        assert time.monotonic() - started < 2
        mqtt.close()

        # The oldest idle sockets made room for newer ones: no more than the cap stay open.
        time.sleep(0.5)
        closed = sum(is_closed_by_server(s) for s in idle)
        assert closed >= IDLE_SOCKETS + 1 - MAX_CONNECTIONS, closed
    finally:
        for s in idle:
            s.close()


def test_never_ending_head_gets_408_and_close(broker_factory):
    broker = broker_factory(f"[metrics]\nrequest_timeout = {REQUEST_READ_TIMEOUT}\n")
    with open_http(broker) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: wharf\r\nX-Slow: ")
        response = b""
        received = bytearray()
        # One byte a second: an inactivity timer would never fire; the deadline does.
        while time.monotonic() - started < REQUEST_READ_TIMEOUT + 5:
            try:
                sock.sendall(b"a")
            except OSError:
                pass
            rest = read_until_closed(sock, timeout=1, received=received)
            if rest is not None:
                response = rest
                break
        else:
            raise AssertionError("the connection was still open after the request deadline")
        assert status(response) == 408, response
        assert time.monotonic() - started >= REQUEST_READ_TIMEOUT - 1


def test_huge_chunk_size_is_refused_and_closed_at_once(broker):
    with open_http(broker) as sock:
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: wharf\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n")
        response = read_until_closed(sock, timeout=2)
    assert response is not None, "still open 2 s after a chunk size of 2^64-1"
    assert status(response) == 413, response


def test_garbage_gets_400_and_close(broker):
    with open_http(broker) as sock:
        sock.sendall(b"\x10\x0c\x00\x04MQTT\x04\x02\x00<\x00\x00\r\n\r\n")
        response = read_until_closed(sock, timeout=2)
    assert response is not None and status(response) == 400, response


def test_oversized_head_gets_431_and_close(broker):
    with open_http(broker) as sock:
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: wharf\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n")
        response = read_until_closed(sock, timeout=2)
    assert response is not None and status(response) == 431, response


def test_scrapes_still_work_on_keep_alive(broker):
    with open_http(broker) as sock:
        for _ in range(3):
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: wharf\r\n\r\n")
            sock.settimeout(2)
            response = sock.recv(65536)
            assert status(response) == 200 and response.endswith(b"ok\n"), response
