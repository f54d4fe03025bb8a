"""A deliberately minimal MQTT 3.1.1 client over a raw socket, for tests that
need exact bytes: malformed input, exact CONNACK codes, DUP on resend,
unacknowledged deliveries. Real clients (paho, mosquitto_*) cover the rest."""
import socket
import struct
import time

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 10, 11, 12, 13, 14


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def mstr(s) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("!H", len(b)) + b


def packet(ptype: int, flags: int, body: bytes) -> bytes:
    return bytes([ptype << 4 | flags]) + varint(len(body)) + body


def connect(client_id="", clean=True, keepalive=60, will=None, username=None, password=None,
            level=4, name="MQTT") -> bytes:
    flags = 0x02 if clean else 0
    payload = mstr(client_id)
    if will:
        topic, message, qos, retain = will
        flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
        payload += mstr(topic) + mstr(message)
    if username is not None:
        flags |= 0x80
        payload += mstr(username)
    if password is not None:
        flags |= 0x40
        payload += mstr(password)
    body = mstr(name) + bytes([level, flags]) + struct.pack("!H", keepalive) + payload
    return packet(CONNECT, 0, body)


def publish(topic, payload=b"", qos=0, pid=None, retain=False, dup=False) -> bytes:
    flags = (0x08 if dup else 0) | (qos << 1) | (1 if retain else 0)
    body = mstr(topic) + (struct.pack("!H", pid) if qos else b"") + payload
    return packet(PUBLISH, flags, body)


def subscribe(pid, *filters) -> bytes:
    body = struct.pack("!H", pid) + b"".join(mstr(f) + bytes([q]) for f, q in filters)
    return packet(SUBSCRIBE, 2, body)


def ack(ptype, pid) -> bytes:
    return packet(ptype, 2 if ptype == PUBREL else 0, struct.pack("!H", pid))


PINGREQ_BYTES = bytes([0xC0, 0])
DISCONNECT_BYTES = bytes([0xE0, 0])


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

    def publish_fields(self):
        """(topic, packet id or None, payload) of a PUBLISH."""
        n = struct.unpack("!H", self.body[:2])[0]
        topic = self.body[2:2 + n].decode()
        rest = self.body[2 + n:]
        if self.qos:
            return topic, struct.unpack("!H", rest[:2])[0], rest[2:]
        return topic, None, rest

    def __repr__(self):
        return f"Packet(type={self.type}, flags={self.flags:#x}, body={self.body[:40]!r})"


class RawClient:
    def __init__(self, port, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def send(self, data: bytes):
        self.sock.sendall(data)

    def _fill(self, n, deadline):
        while len(self.buf) < n:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionResetError("closed by broker")
            self.buf += chunk

    def read(self, timeout=5.0) -> Packet:
        """Next packet; raises ConnectionResetError if the broker closed, socket.timeout if nothing came."""
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

    def connect(self, client_id, **kw) -> Packet:
        self.send(connect(client_id, **kw))
        p = self.read()
        assert p.type == CONNACK, p
        return p

    def closed_by_broker(self, timeout=5.0) -> bool:
        """True if the broker closes the connection (after any packets) within timeout."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                self.read(timeout=deadline - time.monotonic())
        except (ConnectionResetError, BrokenPipeError):
            return True
        except (socket.timeout, TimeoutError):
            return False
        return False

    def close(self):
        self.sock.close()


def connack_code(p: Packet):
    """(session present, return code) of a CONNACK."""
    return bool(p.body[0] & 1), p.body[1]
