"""Bad configuration is refused with a message naming the file and the key."""
import subprocess

from conftest import WHARF, free_port


def _serve_with(tmp_path, text):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    return subprocess.run([WHARF, "serve", "--port", str(free_port()), "--config", str(path)],
                          capture_output=True, text=True, timeout=20, cwd=tmp_path), str(path)


def test_wrong_type_names_file_and_key(tmp_path):
    result, path = _serve_with(tmp_path, '[limits]\nmax_connections = "lots"\n')
    assert result.returncode != 0
    assert f"{path}: key 'limits.max_connections': must be an integer, got string" in result.stderr


def test_unknown_key_is_an_error(tmp_path):
    result, path = _serve_with(tmp_path, "[limits]\nmax_conections = 5\n")
    assert result.returncode != 0
    assert f"{path}: key 'limits.max_conections': unknown key" in result.stderr


def test_invalid_toml_names_the_line(tmp_path):
    result, path = _serve_with(tmp_path, "[listener]\nport = 1883\nbind = \n")
    assert result.returncode != 0
    assert f"{path}:3: not valid TOML" in result.stderr


def test_missing_password_file_is_named(tmp_path):
    result, _ = _serve_with(tmp_path, '[auth]\npassword_file = "/nonexistent/passwd"\n')
    assert result.returncode != 0
    assert "/nonexistent/passwd" in result.stderr


def test_config_file_listener_is_used_without_flags(tmp_path):
    import signal
    import rawmqtt as raw
    port, metrics_port = free_port(), free_port()
    path = tmp_path / "good.toml"
    path.write_text(f'[listener]\nbind = "127.0.0.1"\nport = {port}\n[metrics]\nport = {metrics_port}\n')
    proc = subprocess.Popen([WHARF, "serve", "--config", str(path)], stdout=subprocess.PIPE, cwd=tmp_path,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout.readline().strip().endswith(
            f"listening on 127.0.0.1:{port}, metrics on http://127.0.0.1:{metrics_port}/metrics")
        c = raw.RawClient(port)
        assert c.connect("cfg")[:2] == (False, 0)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
