#!/usr/bin/env python3
"""Writes the fuzz corpus: raw client-to-server byte streams, each a CONNECT
and what follows it, that once crashed the broker (issue 12).

Each case makes the broker quote client input longer than 65,535 bytes in
a string field it writes (a 5.0 reason string, or CONNACK's response
information), which the encoder could not represent and trapped on
("Not enough bits to represent the passed value").

ParserFuzzTests feeds every *.bin here through the packet parser (whole,
drip-fed and in chunks); SessionFuzzTests replays each through a real
connection pipeline and broker, and has one named test per case asserting
the reason code the spec gives. Regenerate with:

    python3 Tests/fuzz-corpus/make_corpus.py

The output is deterministic; commit the .bin files with this script.
"""

import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def vbi(value):
    """MQTT variable byte integer."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            byte |= 0x80
        out.append(byte)
        if not value:
            return bytes(out)


def string(text):
    raw = text.encode("utf-8") if isinstance(text, str) else text
    assert len(raw) <= 0xFFFF, len(raw)
    return struct.pack(">H", len(raw)) + raw


def packet(first, body):
    return bytes([first]) + vbi(len(body)) + body


def properties(*entries):
    """entries: already-encoded (identifier byte + value) properties."""
    body = b"".join(entries)
    return vbi(len(body)) + body


def connect5(client_id="fuzz", props=b"", username=None, password=None, keep_alive=60):
    flags = 0x02  # clean start
    payload = string(client_id)
    if username is not None:
        flags |= 0x80
        payload += string(username)
    if password is not None:
        flags |= 0x40
        payload += string(password)
    body = string("MQTT") + bytes([5, flags]) + struct.pack(">H", keep_alive) + properties(props) + payload
    return packet(0x10, body)


def subscribe5(packet_id, filters, options=0x00):
    body = struct.pack(">H", packet_id) + properties()
    for topic_filter in filters:
        body += string(topic_filter) + bytes([options])
    return packet(0x82, body)


def publish5(topic, payload=b"x"):
    body = string(topic) + properties() + payload
    return packet(0x30, body)


MAX = 65535

CASES = {
    # One invalid filter of 65,535 bytes: SUBACK 0x8F, and its reason string quoted the filter.
    "sub5-invalid-filter-65535": connect5("fuzz-sub-1") + subscribe5(1, ["#/" + "a" * (MAX - 2)], options=0x01),
    # 8,000 small invalid filters: SUBACK with 8,000 x 0x8F, and the reason string listed them all (~87 KB).
    "sub5-8000-invalid-filters": connect5("fuzz-sub-2") + subscribe5(1, ["a/#/b%d" % i for i in range(8000)]),
    # No Local on a shared subscription (a protocol error, 0x82): the DISCONNECT reason quoted the filter.
    "sub5-shared-nolocal-65535": connect5("fuzz-sub-3") + subscribe5(1, ["$share/g/" + "a" * (MAX - 9)], options=0x04 | 0x01),
    # A topic name with a wildcard (malformed): the DISCONNECT reason quoted the topic.
    "pub5-wildcard-topic-65535": connect5("fuzz-pub-1") + publish5("+/" + "a" * (MAX - 2)),
    # An authentication method the broker does not support: CONNACK 0x8C, whose reason quoted the method.
    "connect5-auth-method-65500": connect5("fuzz-auth-1", props=b"\x15" + string("m" * 65500)),
    # A 65,535-byte user name with a wrong password (authentication required): CONNACK 0x86 quoted the name.
    "connect5-username-65535-bad-password": connect5("fuzz-auth-2", username="u" * MAX, password=b"wrong"),
    # Request Response Information = 1 with a 65,535-byte client id: "$response/<id>/" passed 65,535 bytes.
    "connect5-response-info-clientid-65535": connect5("c" * MAX, props=b"\x19\x01"),
}


def main():
    for name, data in CASES.items():
        with open(os.path.join(HERE, name + ".bin"), "wb") as out:
            out.write(data)
        print("%-45s %6d bytes" % (name + ".bin", len(data)))


if __name__ == "__main__":
    main()
