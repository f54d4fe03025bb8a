"""The client reads why it was disconnected (issue 16, point 7): a broker
that closes with a DISCONNECT reason or a CONNACK refusal shuts its side
for writing and reads on briefly, so packets the client is still sending do
not make the kernel reset the connection before the reason is read."""
import socket
import time

import rawmqtt as r
from conftest import start_broker  # noqa: F401


def read_all_until_eof(sock, timeout=5.0) -> bytes:
    """Everything the broker sends until its FIN; a reset fails the test."""
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)  # ConnectionResetError here is the bug this guards against
        if not chunk:
            return data
        data += chunk
    raise AssertionError("the broker did not close within the linger")


def packets(data: bytes, version=5):
    out, i = [], 0
    while i < len(data):
        length, start = r.read_varint(data, i + 1)
        out.append(r.Packet(data[i] >> 4, data[i] & 0x0F, data[start:start + length], version))
        i = start + length
    return out


def test_receive_maximum_exceeded_while_answering_pubrecs_reads_0x93(broker_factory, uid):
    """The race from the issue: receive_maximum = 20, 21 QoS 2 publishes, the
    client answering each PUBREC with PUBREL as it comes."""
    b = broker_factory("[limits]\nreceive_maximum = 20\n")
    c = r.RawClient(b.port, version=5)
    assert c.connect(f"{uid}-flood")[2].get(r.RECEIVE_MAXIMUM) == 20
    c.send(b"".join(r.publish(f"{uid}/q2", b"x" * 100, qos=2, pid=pid, version=5) for pid in range(1, 22)))
    seen = []
    reason = None
    # Answer PUBRECs while reading; every send must succeed (no broken pipe).
    while reason is None:
        p = c.read(timeout=5)
        seen.append(p.type)
        if p.type == r.PUBREC:
            c.send(r.ack(r.PUBREL, p.ack_fields()[0]))
        elif p.type == r.DISCONNECT:
            reason = p.disconnect_fields()[0]
    assert reason == r.RECEIVE_MAXIMUM_EXCEEDED
    assert seen.count(r.PUBREC) == 20
    # The client may go on sending while the broker lingers: no reset.
    for pid in range(1, 21):
        c.send(r.ack(r.PUBREL, pid))
    rest = read_all_until_eof(c.sock)
    assert all(p.type == r.PUBCOMP for p in packets(rest)), packets(rest)


def test_a_refused_connect_is_read_though_the_client_sent_more(broker_factory, uid, tmp_path):
    """A client that pipelines CONNECT and a burst of publishes without
    waiting for CONNACK still reads the refusal (return code 5)."""
    b = broker_factory("[auth]\nallow_anonymous = false\n")
    for version in (4, 5):
        s = socket.create_connection(("127.0.0.1", b.port), timeout=5)
        burst = b"".join(r.publish(f"{uid}/t", b"y" * 1000, qos=0, version=version) for _ in range(200))
        s.sendall(r.connect(f"{uid}-{version}", version=version) + burst)
        data = read_all_until_eof(s)
        first = packets(data, version)[0]
        assert first.type == r.CONNACK
        assert first.connack()[1] == (5 if version == 4 else 0x87)
        s.close()


def test_lingering_is_bounded(broker_factory, uid):
    """After the reason and its FIN the broker reads on for about a second
    (what the client sends then is taken without a reset), then closes:
    a client that keeps sending is cut off, not served indefinitely."""
    b = broker_factory("[limits]\nreceive_maximum = 1\n")
    c = r.RawClient(b.port, version=5)
    c.connect(f"{uid}-linger")
    c.send(r.publish(f"{uid}/q2", b"x", qos=2, pid=1, version=5) + r.publish(f"{uid}/q2", b"x", qos=2, pid=2, version=5))
    read_all_until_eof(c.sock)
    fin = time.monotonic()
    cut_off = None
    while time.monotonic() - fin < 5:
        try:
            c.send(r.PINGREQ_BYTES)
        except (BrokenPipeError, ConnectionResetError):
            cut_off = time.monotonic() - fin
            break
        time.sleep(0.02)
    assert cut_off is not None, "the broker still read 5 s after its DISCONNECT"
    assert 0.5 < cut_off < 3, cut_off
