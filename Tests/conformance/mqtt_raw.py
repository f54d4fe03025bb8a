"""A deliberately small MQTT 3.1.1 client over a raw socket.

It exists for the tests that need exact bytes on the wire: malformed input,
exact CONNACK codes and flags, the DUP flag on a resend, a subscriber that
never acknowledges, keep-alive silence. Real clients (paho, mosquitto_pub and
mosquitto_sub) cover everything else.

Every read has a timeout: a broker that stops answering fails a test, it
never hangs the suite.
"""
import socket
import struct
import time

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 10, 11, 12, 13, 14

NAMES = {
    CONNECT: "CONNECT", CONNACK: "CONNACK", PUBLISH: "PUBLISH", PUBACK: "PUBACK", PUBREC: "PUBREC",
    PUBREL: "PUBREL", PUBCOMP: "PUBCOMP", SUBSCRIBE: "SUBSCRIBE", SUBACK: "SUBACK",
    UNSUBSCRIBE: "UNSUBSCRIBE", UNSUBACK: "UNSUBACK", PINGREQ: "PINGREQ", PINGRESP: "PINGRESP",
    DISCONNECT: "DISCONNECT",
}

# ---------------------------------------------------------------- encoding


def varint(n: int) -> bytes:
    """Remaining-length encoding (3.1.1 section 2.2.3)."""
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def mstr(s) -> bytes:
    """A length-prefixed string (or bytes, sent as they are: for invalid UTF-8)."""
    b = s.encode() if isinstance(s, str) else bytes(s)
    return struct.pack("!H", len(b)) + b


def packet(ptype: int, flags: int, body: bytes) -> bytes:
    return bytes([ptype << 4 | flags]) + varint(len(body)) + body


def connect(client_id="", clean=True, keepalive=60, will=None, username=None, password=None,
            level=4, name="MQTT", flags=None) -> bytes:
    """CONNECT. `will` is (topic, message, qos, retain). `flags` overrides the
    computed connect-flags byte (for malformed cases)."""
    computed = 0x02 if clean else 0
    payload = mstr(client_id)
    if will:
        topic, message, qos, retain = will
        computed |= 0x04 | (qos << 3) | (0x20 if retain else 0)
        payload += mstr(topic) + mstr(message)
    if username is not None:
        computed |= 0x80
        payload += mstr(username)
    if password is not None:
        computed |= 0x40
        payload += mstr(password)
    body = mstr(name) + bytes([level, computed if flags is None else flags]) + struct.pack("!H", keepalive)
    return packet(CONNECT, 0, body + payload)


def publish(topic, payload=b"", qos=0, pid=None, retain=False, dup=False) -> bytes:
    if isinstance(payload, str):
        payload = payload.encode()
    flags = (0x08 if dup else 0) | (qos << 1) | (1 if retain else 0)
    body = mstr(topic) + (struct.pack("!H", pid) if qos else b"") + payload
    return packet(PUBLISH, flags, body)


def subscribe(pid, *filters) -> bytes:
    """SUBSCRIBE with (filter, qos) pairs."""
    body = struct.pack("!H", pid) + b"".join(mstr(f) + bytes([q]) for f, q in filters)
    return packet(SUBSCRIBE, 2, body)


def unsubscribe(pid, *filters) -> bytes:
    return packet(UNSUBSCRIBE, 2, struct.pack("!H", pid) + b"".join(mstr(f) for f in filters))


def ack(ptype, pid) -> bytes:
    """PUBACK, PUBREC, PUBREL (flags 0010) or PUBCOMP."""
    return packet(ptype, 2 if ptype == PUBREL else 0, struct.pack("!H", pid))


PINGREQ_BYTES = bytes([0xC0, 0x00])
DISCONNECT_BYTES = bytes([0xE0, 0x00])

# ---------------------------------------------------------------- decoding


class Packet:
    def __init__(self, ptype, flags, body):
        self.type, self.flags, self.body = ptype, flags, body

    @property
    def qos(self):
        return (self.flags >> 1) & 3

    @property
    def dup(self):
        return bool(self.flags & 8)

    @property
    def retain(self):
        return bool(self.flags & 1)

    @property
    def topic(self):
        return self.publish_fields()[0]

    @property
    def pid(self):
        if self.type == PUBLISH:
            return self.publish_fields()[1]
        return struct.unpack("!H", self.body[:2])[0]

    @property
    def payload(self):
        return self.publish_fields()[2]

    def publish_fields(self):
        """(topic, packet id or None, payload) of a PUBLISH."""
        assert self.type == PUBLISH, self
        n = struct.unpack("!H", self.body[:2])[0]
        topic = self.body[2:2 + n].decode()
        rest = self.body[2 + n:]
        if self.qos:
            return topic, struct.unpack("!H", rest[:2])[0], rest[2:]
        return topic, None, rest

    def connack(self):
        """(session present, return code) of a CONNACK."""
        assert self.type == CONNACK and len(self.body) == 2, self
        return bool(self.body[0] & 1), self.body[1]

    def suback_codes(self):
        assert self.type == SUBACK, self
        return list(self.body[2:])

    def __repr__(self):
        return f"{NAMES.get(self.type, self.type)}(flags={self.flags:#x}, body={bytes(self.body[:40])!r})"


class Closed(Exception):
    """The broker closed the connection."""


class RawClient:
    """One TCP connection to the broker, with a packet reader."""

    def __init__(self, port, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        _LIVE.append(self)

    def send(self, data: bytes):
        self.sock.sendall(data)

    def _fill(self, n, deadline):
        while len(self.buf) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no complete packet before the deadline")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, BrokenPipeError) as e:
                raise Closed(str(e)) from e
            except socket.timeout as e:
                raise TimeoutError("no complete packet before the deadline") from e
            if not chunk:
                raise Closed("closed by broker")
            self.buf += chunk

    def read(self, timeout=5.0) -> Packet:
        """Next packet. Raises Closed if the broker closed the connection,
        TimeoutError if no whole packet arrived within `timeout`."""
        deadline = time.monotonic() + timeout
        self._fill(2, deadline)
        length, mult, i = 0, 1, 1
        while True:
            self._fill(i + 1, deadline)
            b = self.buf[i]
            length += (b & 0x7F) * mult
            mult *= 128
            i += 1
            if not b & 0x80:
                break
        self._fill(i + length, deadline)
        first, body = self.buf[0], self.buf[i:i + length]
        self.buf = self.buf[i + length:]
        return Packet(first >> 4, first & 0x0F, body)

    def expect(self, ptype, timeout=5.0) -> Packet:
        p = self.read(timeout)
        assert p.type == ptype, f"expected {NAMES[ptype]}, got {p}"
        return p

    def connect(self, client_id, **kw) -> Packet:
        """Sends CONNECT and returns the CONNACK (any return code)."""
        self.send(connect(client_id, **kw))
        return self.expect(CONNACK)

    def subscribe(self, pid, *filters):
        """SUBSCRIBE and wait for the SUBACK; returns its return codes."""
        self.send(subscribe(pid, *filters))
        p = self.expect(SUBACK)
        assert p.pid == pid, p
        return p.suback_codes()

    def publish_qos1(self, topic, payload, pid, retain=False):
        self.send(publish(topic, payload, qos=1, pid=pid, retain=retain))
        assert self.expect(PUBACK).pid == pid

    def ping(self):
        self.send(PINGREQ_BYTES)
        self.expect(PINGRESP)

    def read_all(self, quiet=0.5, limit=10.0):
        """Every packet until `quiet` seconds pass with nothing new (or the
        connection closes, or `limit` seconds in all)."""
        out, end = [], time.monotonic() + limit
        while time.monotonic() < end:
            try:
                out.append(self.read(timeout=quiet))
            except (TimeoutError, Closed):
                break
        return out

    def wait_closed(self, timeout=5.0):
        """Packets received until the broker closed the connection. Raises
        AssertionError if it is still open after `timeout`."""
        got, deadline = [], time.monotonic() + timeout
        while True:
            try:
                got.append(self.read(timeout=max(0.0, deadline - time.monotonic())))
            except Closed:
                return got
            except TimeoutError:
                raise AssertionError(f"connection still open after {timeout}s (received {got})")

    def is_open_after(self, seconds) -> bool:
        """True if the broker keeps the connection open for `seconds`."""
        try:
            self.wait_closed(seconds)
        except AssertionError:
            return True
        return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


_LIVE: list = []


def close_all():
    """Closes every client a test opened (called by the fixtures)."""
    while _LIVE:
        _LIVE.pop().close()
