"""The TOML configuration file: bad files are refused before the broker
starts (non-zero exit, nothing on stdout, stderr names the file and the key
or line); good files are applied."""
import signal
import subprocess

import pytest

import mqtt_raw as raw
from conftest import WHARF, free_port, isolation_args, read_line


def serve_with(tmp_path, text, name="wharf.toml", args=()):
    path = tmp_path / name
    path.write_text(text)
    result = subprocess.run([WHARF, "serve", "--bind", "127.0.0.1", "--port", str(free_port()),
                             *isolation_args(), "--config", str(path), *args],
                            capture_output=True, text=True, timeout=20)
    return result, str(path)


def test_wrong_type_names_file_and_key(tmp_path):
    result, path = serve_with(tmp_path, '[limits]\nmax_connections = "lots"\n')
    assert result.returncode != 0
    assert f"{path}: key 'limits.max_connections': must be an integer, got string" in result.stderr
    assert "listening" not in result.stdout


@pytest.mark.parametrize("text,key", [
    ('[listener]\nport = "1883"\n', "listener.port"),
    ("[listener]\nbind = 127\n", "listener.bind"),
    ("[limits]\nmax_packet_size = 1.5\n", "limits.max_packet_size"),
    ("[limits]\nconnect_timeout = true\n", "limits.connect_timeout"),
    ("[limits]\nmax_inflight_messages = [20]\n", "limits.max_inflight_messages"),
    ("[log]\nlevel = 3\n", "log.level"),
    ('[auth]\nallow_anonymous = "yes"\n', "auth.allow_anonymous"),
    ('limits = "none"\n', "limits"),
])
def test_wrong_types_are_refused_naming_the_key(tmp_path, text, key):
    result, path = serve_with(tmp_path, text)
    assert result.returncode != 0
    assert f"{path}: key '{key}'" in result.stderr, result.stderr
    assert "listening" not in result.stdout


@pytest.mark.parametrize("text,key", [
    ("[limits]\nmax_connections = 0\n", "limits.max_connections"),
    ("[limits]\nmax_connections = -5\n", "limits.max_connections"),
    ("[listener]\nport = 70000\n", "listener.port"),
    ("[listener]\nport = -1\n", "listener.port"),
    ("[limits]\nmax_inflight_messages = 0\n", "limits.max_inflight_messages"),
    ("[limits]\nmax_inflight_messages = 65536\n", "limits.max_inflight_messages"),
    ("[limits]\nmax_queued_messages = -1\n", "limits.max_queued_messages"),
    ("[limits]\nmax_packet_size = 0\n", "limits.max_packet_size"),
    ("[limits]\nmax_packet_size = 268435461\n", "limits.max_packet_size"),
    ("[limits]\nconnect_timeout = 0\n", "limits.connect_timeout"),
    ('[log]\nlevel = "loud"\n', "log.level"),
])
def test_out_of_range_values_are_refused_naming_the_key(tmp_path, text, key):
    result, path = serve_with(tmp_path, text)
    assert result.returncode != 0, f"accepted {text!r}"
    assert f"{path}: key '{key}'" in result.stderr, result.stderr


def test_unknown_key_is_an_error(tmp_path):
    result, path = serve_with(tmp_path, "[limits]\nmax_conections = 5\n")
    assert result.returncode != 0
    assert f"{path}: key 'limits.max_conections': unknown key" in result.stderr


def test_unknown_section_is_an_error(tmp_path):
    result, path = serve_with(tmp_path, "[limit]\nmax_connections = 5\n")
    assert result.returncode != 0
    assert f"{path}: key 'limit'" in result.stderr, result.stderr


@pytest.mark.parametrize("text,line", [
    ("[listener]\nport = 1883\nbind = \n", 3),
    ("[limits]\nmax_connections = 10\n\n\nmax_queued_messages = = 3\n", 5),
    ("[listener\nport = 1883\n", 1),
    ('[log]\nlevel = "info\n', 2),
    ("[limits]\nmax_connections = 1\nmax_connections = 2\n", 3),
])
def test_invalid_toml_names_the_file_and_line(tmp_path, text, line):
    result, path = serve_with(tmp_path, text)
    assert result.returncode != 0
    assert f"{path}:{line}:" in result.stderr, result.stderr
    assert "listening" not in result.stdout


def test_missing_config_file_is_named(tmp_path):
    missing = tmp_path / "nope.toml"
    result = subprocess.run([WHARF, "serve", "--port", str(free_port()), *isolation_args(),
                             "--config", str(missing)], capture_output=True, text=True, timeout=20)
    assert result.returncode != 0
    assert str(missing) in result.stderr


def test_missing_password_file_is_named(tmp_path):
    result, _ = serve_with(tmp_path, '[auth]\npassword_file = "/nonexistent/passwd"\n')
    assert result.returncode != 0
    assert "/nonexistent/passwd" in result.stderr


def run_until_ready(cmd):
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    return proc, read_line(proc, 15)


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
        raise
    err = proc.stderr.read().decode(errors="replace")
    proc.stdout.close()
    proc.stderr.close()
    return code, err


def test_listener_from_the_file_is_used_without_flags(tmp_path):
    port = free_port()
    path = tmp_path / "good.toml"
    path.write_text(f'[listener]\nbind = "127.0.0.1"\nport = {port}\n')
    proc, line = run_until_ready([WHARF, "serve", *isolation_args(), "--config", str(path)])
    try:
        assert f"listening on 127.0.0.1:{port}" in line, line
        c = raw.RawClient(port)
        assert c.connect("cfg").connack() == (False, 0)
        c.close()
    finally:
        code, _ = stop(proc)
    assert code == 0


def test_command_line_port_overrides_the_file(tmp_path):
    file_port, flag_port = free_port(), free_port()
    path = tmp_path / "good.toml"
    path.write_text(f'[listener]\nport = {file_port}\n')
    proc, line = run_until_ready([WHARF, "serve", *isolation_args(), "--config", str(path),
                                  "--port", str(flag_port)])
    try:
        assert f"listening on 127.0.0.1:{flag_port}" in line, line
        c = raw.RawClient(flag_port)
        assert c.connect("flag").connack() == (False, 0)
        c.close()
    finally:
        code, _ = stop(proc)
    assert code == 0


def test_log_level_from_the_file(tmp_path):
    """level = "error": a normal run with a client logs nothing at info or
    debug level."""
    port = free_port()
    path = tmp_path / "quiet.toml"
    path.write_text(f'[listener]\nport = {port}\n[log]\nlevel = "error"\n')
    proc, line = run_until_ready([WHARF, "serve", *isolation_args(), "--config", str(path)])
    try:
        assert "listening" in line
        c = raw.RawClient(port)
        c.connect("quiet")
        c.send(raw.DISCONNECT_BYTES)
        c.wait_closed()
    finally:
        code, err = stop(proc)
    assert code == 0
    assert " info " not in err and " debug " not in err, err


def test_limits_from_the_file_are_applied(broker, uid):
    b = broker("[listener]\nbind = \"127.0.0.1\"\n[limits]\nmax_connections = 1\n")
    c = raw.RawClient(b.port)
    assert c.connect(f"{uid}-1").connack() == (False, 0)
    second = raw.RawClient(b.port)
    assert second.connect(f"{uid}-2").connack() == (False, 3)


def test_port_already_in_use_is_named_in_the_error(tmp_path):
    """Like configuration errors, a listener that cannot be bound is reported
    with what could not be bound: the operator must learn which address and
    port are taken. No ready line, non-zero exit."""
    import socket
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([WHARF, "serve", "--bind", "127.0.0.1", "--port", str(port), *isolation_args()],
                                capture_output=True, text=True, timeout=20)
    assert result.returncode != 0
    assert "listening" not in result.stdout
    assert "in use" in result.stderr.lower(), result.stderr
    assert f"127.0.0.1:{port}" in result.stderr or str(port) in result.stderr, \
        f"the error does not say which port is taken: {result.stderr.strip()!r}"
