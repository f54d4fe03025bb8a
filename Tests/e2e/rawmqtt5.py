"""A deliberately minimal MQTT 5.0 client over a raw socket, for tests that
need exact bytes: property encoding, malformed input, exact CONNACK/PUBACK/
DISCONNECT reason codes and properties, topic aliases as they are on the wire,
and acknowledgements with a failure reason code (>= 0x80, a negative
acknowledgement). Real clients (paho, mosquitto_*) cover the rest.

Properties are given and returned as lists of (identifier, value) pairs so
that order and repetition (User Property, Subscription Identifier, or a
deliberately duplicated property) are kept exactly."""
import socket
import struct
import time

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = 8, 9, 10, 11, 12, 13, 14, 15

# Property identifiers (MQTT 5.0 section 2.2.2.2).
PAYLOAD_FORMAT = 0x01
MESSAGE_EXPIRY = 0x02
CONTENT_TYPE = 0x03
RESPONSE_TOPIC = 0x08
CORRELATION_DATA = 0x09
SUBSCRIPTION_ID = 0x0B
SESSION_EXPIRY = 0x11
ASSIGNED_CLIENT_ID = 0x12
SERVER_KEEP_ALIVE = 0x13
AUTH_METHOD = 0x15
AUTH_DATA = 0x16
REQUEST_PROBLEM_INFO = 0x17
WILL_DELAY = 0x18
REQUEST_RESPONSE_INFO = 0x19
RESPONSE_INFO = 0x1A
SERVER_REFERENCE = 0x1C
REASON_STRING = 0x1F
RECEIVE_MAXIMUM = 0x21
TOPIC_ALIAS_MAXIMUM = 0x22
TOPIC_ALIAS = 0x23
MAXIMUM_QOS = 0x24
RETAIN_AVAILABLE = 0x25
USER_PROPERTY = 0x26
MAXIMUM_PACKET_SIZE = 0x27
WILDCARD_SUB_AVAILABLE = 0x28
SUB_ID_AVAILABLE = 0x29
SHARED_SUB_AVAILABLE = 0x2A

BYTE, TWO, FOUR, VARINT, STRING, BINARY, PAIR = "byte", "two", "four", "varint", "string", "binary", "pair"
PROPERTY_TYPES = {
    PAYLOAD_FORMAT: BYTE, MESSAGE_EXPIRY: FOUR, CONTENT_TYPE: STRING, RESPONSE_TOPIC: STRING,
    CORRELATION_DATA: BINARY, SUBSCRIPTION_ID: VARINT, SESSION_EXPIRY: FOUR, ASSIGNED_CLIENT_ID: STRING,
    SERVER_KEEP_ALIVE: TWO, AUTH_METHOD: STRING, AUTH_DATA: BINARY, REQUEST_PROBLEM_INFO: BYTE,
    WILL_DELAY: FOUR, REQUEST_RESPONSE_INFO: BYTE, RESPONSE_INFO: STRING, SERVER_REFERENCE: STRING,
    REASON_STRING: STRING, RECEIVE_MAXIMUM: TWO, TOPIC_ALIAS_MAXIMUM: TWO, TOPIC_ALIAS: TWO,
    MAXIMUM_QOS: BYTE, RETAIN_AVAILABLE: BYTE, USER_PROPERTY: PAIR, MAXIMUM_PACKET_SIZE: FOUR,
    WILDCARD_SUB_AVAILABLE: BYTE, SUB_ID_AVAILABLE: BYTE, SHARED_SUB_AVAILABLE: BYTE,
}

# Reason codes used by the tests (section 2.4).
SUCCESS, NO_MATCHING_SUBSCRIBERS, NO_SUBSCRIPTION_EXISTED = 0x00, 0x10, 0x11
DISCONNECT_WITH_WILL = 0x04
UNSPECIFIED_ERROR, MALFORMED, PROTOCOL_ERROR, IMPLEMENTATION_SPECIFIC = 0x80, 0x81, 0x82, 0x83
UNSUPPORTED_PROTOCOL_VERSION, BAD_USER_OR_PASSWORD, NOT_AUTHORIZED = 0x84, 0x86, 0x87
SERVER_SHUTTING_DOWN, BAD_AUTH_METHOD, KEEP_ALIVE_TIMEOUT, SESSION_TAKEN_OVER = 0x8B, 0x8C, 0x8D, 0x8E
TOPIC_FILTER_INVALID, RECEIVE_MAXIMUM_EXCEEDED, TOPIC_ALIAS_INVALID = 0x8F, 0x93, 0x94
PACKET_TOO_LARGE, QUOTA_EXCEEDED = 0x95, 0x97


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


def encode_props(props=()) -> bytes:
    """Property block (length prefix included) from (identifier, value) pairs."""
    body = bytearray()
    for ident, value in props:
        body += varint(ident)
        kind = PROPERTY_TYPES[ident]
        if kind == BYTE:
            body.append(value)
        elif kind == TWO:
            body += struct.pack("!H", value)
        elif kind == FOUR:
            body += struct.pack("!I", value)
        elif kind == VARINT:
            body += varint(value)
        elif kind in (STRING, BINARY):
            body += mstr(value)
        else:
            body += mstr(value[0]) + mstr(value[1])
    return varint(len(body)) + bytes(body)


def read_varint(data: bytes, i: int):
    value, mult = 0, 1
    while True:
        b = data[i]
        i += 1
        value += (b & 0x7F) * mult
        mult *= 128
        if not b & 0x80:
            return value, i


class Props(list):
    """Decoded properties: a list of (identifier, value) pairs, wire order kept."""

    def get(self, ident, default=None):
        return next((v for i, v in self if i == ident), default)

    def all(self, ident):
        return [v for i, v in self if i == ident]

    def ids(self):
        return [i for i, _ in self]

    @property
    def user(self):
        return self.all(USER_PROPERTY)


def decode_props(data: bytes, i: int):
    """(Props, index after the block) from a property block at data[i]."""
    length, i = read_varint(data, i)
    end, out = i + length, Props()
    while i < end:
        ident, i = read_varint(data, i)
        kind = PROPERTY_TYPES[ident]
        if kind == BYTE:
            value, i = data[i], i + 1
        elif kind == TWO:
            value, i = struct.unpack("!H", data[i:i + 2])[0], i + 2
        elif kind == FOUR:
            value, i = struct.unpack("!I", data[i:i + 4])[0], i + 4
        elif kind == VARINT:
            value, i = read_varint(data, i)
        elif kind in (STRING, BINARY):
            n = struct.unpack("!H", data[i:i + 2])[0]
            value, i = data[i + 2:i + 2 + n], i + 2 + n
            if kind == STRING:
                value = value.decode()
        else:
            n = struct.unpack("!H", data[i:i + 2])[0]
            key, i = data[i + 2:i + 2 + n].decode(), i + 2 + n
            n = struct.unpack("!H", data[i:i + 2])[0]
            value, i = (key, data[i + 2:i + 2 + n].decode()), i + 2 + n
        out.append((ident, value))
    return out, end


def packet(ptype: int, flags: int, body: bytes) -> bytes:
    return bytes([ptype << 4 | flags]) + varint(len(body)) + body


def connect(client_id="", clean_start=True, keepalive=60, props=(), will=None, username=None, password=None,
            level=5, name="MQTT") -> bytes:
    """CONNECT; will is (topic, payload, qos, retain) or (topic, payload, qos, retain, will properties)."""
    flags = 0x02 if clean_start else 0
    payload = mstr(client_id)
    if will:
        topic, message, qos, retain, *rest = will
        flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
        payload += encode_props(rest[0] if rest else ()) + mstr(topic) + mstr(message)
    if username is not None:
        flags |= 0x80
        payload += mstr(username)
    if password is not None:
        flags |= 0x40
        payload += mstr(password)
    body = mstr(name) + bytes([level, flags]) + struct.pack("!H", keepalive) + encode_props(props) + payload
    return packet(CONNECT, 0, body)


def publish(topic, payload=b"", qos=0, pid=None, retain=False, dup=False, props=()) -> bytes:
    flags = (0x08 if dup else 0) | (qos << 1) | (1 if retain else 0)
    body = mstr(topic) + (struct.pack("!H", pid) if qos else b"") + encode_props(props) + payload
    return packet(PUBLISH, flags, body)


def subopts(qos=0, no_local=False, retain_as_published=False, retain_handling=0) -> int:
    """The Subscription Options byte (section 3.8.3.1)."""
    return qos | (0x04 if no_local else 0) | (0x08 if retain_as_published else 0) | (retain_handling << 4)


def subscribe(pid, *filters, props=()) -> bytes:
    """SUBSCRIBE; each filter is (topic filter, options byte or QoS)."""
    body = struct.pack("!H", pid) + encode_props(props) + b"".join(mstr(f) + bytes([o]) for f, o in filters)
    return packet(SUBSCRIBE, 2, body)


def unsubscribe(pid, *filters, props=()) -> bytes:
    return packet(UNSUBSCRIBE, 2, struct.pack("!H", pid) + encode_props(props) + b"".join(mstr(f) for f in filters))


def ack(ptype, pid, reason=None, props=None) -> bytes:
    """PUBACK/PUBREC/PUBREL/PUBCOMP; reason None sends the short form (implied success)."""
    body = struct.pack("!H", pid)
    if reason is not None or props:
        body += bytes([reason or 0])
        if props:
            body += encode_props(props)
    return packet(ptype, 2 if ptype == PUBREL else 0, body)


def disconnect(reason=0, props=None) -> bytes:
    body = bytes([reason]) + (encode_props(props) if props else b"")
    return packet(DISCONNECT, 0, body)


def auth(reason=0x18, props=()) -> bytes:
    return packet(AUTH, 0, bytes([reason]) + encode_props(props))


PINGREQ_BYTES = bytes([0xC0, 0])
DISCONNECT_BYTES = bytes([0xE0, 0])  # normal disconnection, reason 0x00 implied


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

    def connack(self):
        """(session present, reason code, Props) of a CONNACK."""
        assert self.type == CONNACK, self
        props = decode_props(self.body, 2)[0] if len(self.body) > 2 else Props()
        return bool(self.body[0] & 1), self.body[1], props

    def publish_fields(self):
        """(topic, packet id or None, Props, payload) of a PUBLISH."""
        assert self.type == PUBLISH, self
        n = struct.unpack("!H", self.body[:2])[0]
        topic, i = self.body[2:2 + n].decode(), 2 + n
        pid = None
        if self.qos:
            pid, i = struct.unpack("!H", self.body[i:i + 2])[0], i + 2
        props, i = decode_props(self.body, i)
        return topic, pid, props, self.body[i:]

    def ack_fields(self):
        """(packet id, reason code, Props) of PUBACK/PUBREC/PUBREL/PUBCOMP."""
        pid = struct.unpack("!H", self.body[:2])[0]
        reason = self.body[2] if len(self.body) > 2 else 0
        props = decode_props(self.body, 3)[0] if len(self.body) > 3 else Props()
        return pid, reason, props

    def suback_fields(self):
        """(packet id, Props, reason codes) of SUBACK/UNSUBACK."""
        pid = struct.unpack("!H", self.body[:2])[0]
        props, i = decode_props(self.body, 2)
        return pid, props, list(self.body[i:])

    def disconnect_fields(self):
        """(reason code, Props) of a DISCONNECT (or AUTH)."""
        reason = self.body[0] if self.body else 0
        props = decode_props(self.body, 1)[0] if len(self.body) > 1 else Props()
        return reason, props

    def __repr__(self):
        return f"Packet(type={self.type}, flags={self.flags:#x}, body={self.body[:60]!r})"


class RawClient:
    def __init__(self, port, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.aliases = {}  # server -> client topic aliases seen so far

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

    def read_type(self, ptype, timeout=5.0) -> Packet:
        """Next packet of a type, skipping others (e.g. a PUBLISH racing a SUBACK)."""
        deadline = time.monotonic() + timeout
        while True:
            p = self.read(timeout=max(0.01, deadline - time.monotonic()))
            if p.type == ptype:
                return p

    def connect(self, client_id, **kw):
        """Sends CONNECT; returns (session present, reason code, Props) of the CONNACK."""
        self.send(connect(client_id, **kw))
        return self.read().connack()

    def subscribe(self, pid, *filters, props=()):
        """SUBSCRIBE and wait for the SUBACK; returns its reason codes."""
        self.send(subscribe(pid, *filters, props=props))
        p = self.read_type(SUBACK)
        assert p.suback_fields()[0] == pid
        return p.suback_fields()[2]

    def publish_acked(self, topic, payload, qos, pid, props=(), retain=False):
        """PUBLISH at QoS 1 or 2 and complete the flow; returns (reason code, Props) of the PUBACK/PUBREC."""
        self.send(publish(topic, payload, qos=qos, pid=pid, props=props, retain=retain))
        p = self.read_type(PUBACK if qos == 1 else PUBREC)
        got_pid, reason, rprops = p.ack_fields()
        assert got_pid == pid
        if qos == 2 and reason < 0x80:
            self.send(ack(PUBREL, pid))
            assert self.read_type(PUBCOMP).ack_fields()[0] == pid
        return reason, rprops

    def message(self, timeout=5.0, ack_it=True):
        """Next PUBLISH as (topic with aliases resolved, packet id, Props, payload, Packet); acknowledges QoS 1/2."""
        p = self.read_type(PUBLISH, timeout=timeout)
        topic, pid, props, payload = p.publish_fields()
        alias = props.get(TOPIC_ALIAS)
        if alias is not None:
            if topic:
                self.aliases[alias] = topic
            else:
                topic = self.aliases[alias]
        if ack_it and p.qos == 1:
            self.send(ack(PUBACK, pid))
        elif ack_it and p.qos == 2:
            self.send(ack(PUBREC, pid))
            self.read_type(PUBREL)
            self.send(ack(PUBCOMP, pid))
        return topic, pid, props, payload, p

    def server_disconnect(self, timeout=5.0):
        """Reads until the broker closes. Returns (reason, Props) of its DISCONNECT, or (None, None)
        if it closed without one. Packets read on the way are kept in self.seen. Fails if the
        connection is still open after timeout."""
        self.seen = []
        deadline = time.monotonic() + timeout
        result = (None, None)
        try:
            while True:
                p = self.read(timeout=max(0.01, deadline - time.monotonic()))
                if p.type == DISCONNECT:
                    result = p.disconnect_fields()
                else:
                    self.seen.append(p)
        except (ConnectionResetError, BrokenPipeError):
            return result
        except (socket.timeout, TimeoutError):
            raise AssertionError(f"connection still open after {timeout}s (DISCONNECT seen: {result})")

    def closed_by_broker(self, timeout=5.0) -> bool:
        """True if the broker closes the connection (after any packets) within timeout."""
        try:
            self.server_disconnect(timeout)
            return True
        except AssertionError:
            return False

    def close(self):
        self.sock.close()
