"""A deliberately minimal MQTT client over a raw socket, speaking 3.1.1 or 5.0,
for tests that need exact bytes: malformed input, exact CONNACK/PUBACK/
DISCONNECT codes and properties, the DUP flag on a resend, unacknowledged
deliveries, topic aliases as they are on the wire, and acknowledgements with a
failure reason code (>= 0x80, a negative acknowledgement). Real clients (paho,
mosquitto_*) cover the rest.

The two versions frame, encode strings and acknowledge alike; a 5.0 packet adds
a property block that 3.1.1 does not have. So the builders whose bytes differ
(connect, publish, subscribe, unsubscribe) and RawClient take `version`: the
protocol level, 4 for 3.1.1 (the default) or 5 for 5.0. Properties exist only
in 5.0: giving them to a 3.1.1 packet is a mistake in the test, and raises.

Properties are given and returned as lists of (identifier, value) pairs so
that order and repetition (User Property, Subscription Identifier, or a
deliberately duplicated property) are kept exactly."""
import socket
import struct
import time

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = 8, 9, 10, 11, 12, 13, 14, 15

# Protocol levels: the values of `version`.
MQTT_3_1_1, MQTT_5 = 4, 5

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

# ---------------------------------------------------------------- encoding


def varint(n: int) -> bytes:
    """Variable byte integer: the remaining length, and 5.0's property lengths and identifiers."""
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def mstr(s) -> bytes:
    """A length-prefixed string (or bytes, sent as they are: for invalid UTF-8)."""
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


def property_block(props, version) -> bytes:
    """The property block a packet of this version carries: none in 3.1.1."""
    if version == MQTT_5:
        return encode_props(props)
    assert version == MQTT_3_1_1, f"version is a protocol level, 4 or 5, not {version!r}"
    # Properties on a 3.1.1 packet mean a test forgot version=5: dropping them
    # silently would send other bytes than the test meant.
    if props:
        raise ValueError(f"properties exist only in MQTT 5.0, not in a 3.1.1 packet: {props!r}")
    return b""


def packet(ptype: int, flags: int, body: bytes) -> bytes:
    return bytes([ptype << 4 | flags]) + varint(len(body)) + body


def connect(client_id="", *, clean=True, keepalive=60, props=(), will=None, username=None, password=None,
            version=MQTT_3_1_1, level=None, name="MQTT") -> bytes:
    """CONNECT; clean is Clean Session (3.1.1) or Clean Start (5.0), the same bit. will is
    (topic, payload, qos, retain), in 5.0 optionally with will properties as a fifth item.
    level overrides the protocol level byte (version's own by default), to send one the broker refuses."""
    flags = 0x02 if clean else 0
    payload = mstr(client_id)
    if will:
        topic, message, qos, retain, *will_props = will
        flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
        payload += property_block(will_props[0] if will_props else (), version) + mstr(topic) + mstr(message)
    if username is not None:
        flags |= 0x80
        payload += mstr(username)
    if password is not None:
        flags |= 0x40
        payload += mstr(password)
    header = mstr(name) + bytes([version if level is None else level, flags]) + struct.pack("!H", keepalive)
    return packet(CONNECT, 0, header + property_block(props, version) + payload)


def publish(topic, payload=b"", qos=0, pid=None, retain=False, dup=False, props=(), version=MQTT_3_1_1) -> bytes:
    flags = (0x08 if dup else 0) | (qos << 1) | (1 if retain else 0)
    body = mstr(topic) + (struct.pack("!H", pid) if qos else b"") + property_block(props, version) + payload
    return packet(PUBLISH, flags, body)


def subopts(qos=0, no_local=False, retain_as_published=False, retain_handling=0) -> int:
    """The 5.0 Subscription Options byte (section 3.8.3.1); in 3.1.1 only the QoS bits exist."""
    return qos | (0x04 if no_local else 0) | (0x08 if retain_as_published else 0) | (retain_handling << 4)


def subscribe(pid, *filters, props=(), version=MQTT_3_1_1) -> bytes:
    """SUBSCRIBE; each filter is (topic filter, options byte or QoS)."""
    options = b"".join(mstr(f) + bytes([o]) for f, o in filters)
    return packet(SUBSCRIBE, 2, struct.pack("!H", pid) + property_block(props, version) + options)


def unsubscribe(pid, *filters, props=(), version=MQTT_3_1_1) -> bytes:
    body = struct.pack("!H", pid) + property_block(props, version) + b"".join(mstr(f) for f in filters)
    return packet(UNSUBSCRIBE, 2, body)


def ack(ptype, pid, reason=None, props=None) -> bytes:
    """PUBACK/PUBREC/PUBREL/PUBCOMP. Without a reason or properties this is the short form,
    the only one in 3.1.1 (implied success in 5.0); with them, 5.0 only."""
    body = struct.pack("!H", pid)
    if reason is not None or props:
        body += bytes([reason or 0])
        if props:
            body += encode_props(props)
    return packet(ptype, 2 if ptype == PUBREL else 0, body)


def disconnect(reason=0, props=None) -> bytes:
    """A 5.0 DISCONNECT with a reason code; a 3.1.1 one is DISCONNECT_BYTES."""
    body = bytes([reason]) + (encode_props(props) if props else b"")
    return packet(DISCONNECT, 0, body)


def auth(reason=0x18, props=()) -> bytes:
    """AUTH, 5.0 only."""
    return packet(AUTH, 0, bytes([reason]) + encode_props(props))


PINGREQ_BYTES = bytes([0xC0, 0])
DISCONNECT_BYTES = bytes([0xE0, 0])  # 3.1.1's DISCONNECT; in 5.0 normal disconnection, reason 0x00 implied

# ---------------------------------------------------------------- decoding


def read_varint(data: bytes, i: int):
    """(value, index after it) of the variable byte integer at data[i]."""
    value, mult = 0, 1
    while True:
        b = data[i]
        i += 1
        value += (b & 0x7F) * mult
        mult *= 128
        if not b & 0x80:
            return value, i


def read_u16(data: bytes, i: int):
    return struct.unpack("!H", data[i:i + 2])[0], i + 2


def read_bytes(data: bytes, i: int):
    """(bytes, index after them) of the length-prefixed string or binary data at data[i]."""
    n, i = read_u16(data, i)
    return data[i:i + n], i + n


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
            value, i = read_u16(data, i)
        elif kind == FOUR:
            value, i = struct.unpack("!I", data[i:i + 4])[0], i + 4
        elif kind == VARINT:
            value, i = read_varint(data, i)
        elif kind == BINARY:
            value, i = read_bytes(data, i)
        elif kind == STRING:
            value, i = read_bytes(data, i)
            value = value.decode()
        else:
            key, i = read_bytes(data, i)
            value, i = read_bytes(data, i)
            value = (key.decode(), value.decode())
        out.append((ident, value))
    return out, end


class Packet:
    """One packet as read: its body kept as it came, decoded on demand by the *_fields methods
    (a test may want the bytes, a malformed packet may not decode). The connection's version
    says whether the body has property blocks."""

    def __init__(self, ptype, flags, body, version=MQTT_3_1_1):
        self.type, self.flags, self.body, self.version = ptype, flags, body, version

    @property
    def qos(self):
        return (self.flags >> 1) & 3

    @property
    def dup(self):
        return bool(self.flags & 8)

    @property
    def retain(self):
        return bool(self.flags & 1)

    def _props_at(self, i):
        """(Props, index after them) of the property block a 5.0 packet has at body[i];
        a 3.1.1 packet has none there, so empty Props and i unchanged."""
        return decode_props(self.body, i) if self.version == MQTT_5 else (Props(), i)

    def _trailing_props(self, i):
        """Props of a block that ends the packet and may be left out: 5.0 omits it when empty,
        and a 3.1.1 packet always ends before it, so both decode as no properties."""
        return decode_props(self.body, i)[0] if len(self.body) > i else Props()

    def connack(self):
        """(session present, return or reason code, Props) of a CONNACK."""
        assert self.type == CONNACK, self
        return bool(self.body[0] & 1), self.body[1], self._trailing_props(2)

    def publish_fields(self):
        """(topic, packet id or None, Props, payload) of a PUBLISH."""
        assert self.type == PUBLISH, self
        topic, i = read_bytes(self.body, 0)
        pid = None
        if self.qos:
            pid, i = read_u16(self.body, i)
        props, i = self._props_at(i)
        return topic.decode(), pid, props, self.body[i:]

    def ack_fields(self):
        """(packet id, reason code, Props) of PUBACK/PUBREC/PUBREL/PUBCOMP."""
        pid = read_u16(self.body, 0)[0]
        reason = self.body[2] if len(self.body) > 2 else 0
        return pid, reason, self._trailing_props(3)

    def suback_fields(self):
        """(packet id, Props, return or reason codes) of SUBACK/UNSUBACK."""
        pid, i = read_u16(self.body, 0)
        props, i = self._props_at(i)
        return pid, props, list(self.body[i:])

    def disconnect_fields(self):
        """(reason code, Props) of a DISCONNECT (or AUTH)."""
        reason = self.body[0] if self.body else 0
        return reason, self._trailing_props(1)

    def __repr__(self):
        return f"Packet(type={self.type}, flags={self.flags:#x}, body={self.body[:60]!r})"

# ---------------------------------------------------------------- the client


class RawClient:
    """One connection. Its version decides what connect, subscribe and publish_acked send
    and how the packets it reads decode; send() puts any bytes on the wire as they are."""

    def __init__(self, port, *, version=MQTT_3_1_1, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.version = version
        self.buf = b""
        self.aliases = {}  # server -> client topic aliases seen so far (5.0)

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
        # The remaining length follows the first byte: one byte more while the last has its continuation bit.
        end = 2
        self._fill(end, deadline)
        while self.buf[end - 1] & 0x80:
            end += 1
            self._fill(end, deadline)
        length, start = read_varint(self.buf, 1)
        self._fill(start + length, deadline)
        first, body = self.buf[0], self.buf[start:start + length]
        self.buf = self.buf[start + length:]
        return Packet(first >> 4, first & 0x0F, body, self.version)

    def read_type(self, ptype, timeout=5.0) -> Packet:
        """Next packet of a type, skipping others (e.g. a PUBLISH racing a SUBACK)."""
        deadline = time.monotonic() + timeout
        while True:
            p = self.read(timeout=max(0.01, deadline - time.monotonic()))
            if p.type == ptype:
                return p

    def connect(self, client_id, **kw):
        """Sends CONNECT; returns (session present, return or reason code, Props) of the CONNACK."""
        self.send(connect(client_id, version=self.version, **kw))
        return self.read().connack()

    def subscribe(self, pid, *filters, props=()):
        """SUBSCRIBE and wait for the SUBACK; returns its return or reason codes."""
        self.send(subscribe(pid, *filters, props=props, version=self.version))
        p = self.read_type(SUBACK)
        assert p.suback_fields()[0] == pid
        return p.suback_fields()[2]

    def publish_acked(self, topic, payload, qos, pid, props=(), retain=False):
        """PUBLISH at QoS 1 or 2 and complete the flow; returns (reason code, Props) of the PUBACK/PUBREC."""
        self.send(publish(topic, payload, qos=qos, pid=pid, props=props, retain=retain, version=self.version))
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
        if it closed without one (always, in 3.1.1). Packets read on the way are kept in self.seen.
        Fails if the connection is still open after timeout."""
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
