"""`wharf passwd`: files it writes work with Debian's real mosquitto, files
mosquitto_passwd writes work with `wharf serve`, and it edits in place."""
import os
import pty
import select
import signal
import stat
import subprocess
import time

import rawmqtt as raw
from conftest import WHARF
from mqtt5clients import Mosquitto
from mqttclients import mosquitto_pub


def passwd(*args, stdin=None, new_session=True):
    """Runs `wharf passwd`; by default in a new session, so without a controlling terminal."""
    return subprocess.run([WHARF, "passwd", *map(str, args)], input=stdin, capture_output=True, text=True,
                          timeout=30, start_new_session=new_session,
                          stdin=None if stdin is not None else subprocess.DEVNULL)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_stdin_file_is_accepted_by_mosquitto(tmp_path, uid):
    pw = tmp_path / "passwd"
    for user, password in [("alice", "s3cret"), ("bob", "correct horse battery")]:
        result = passwd("--stdin", pw, user, stdin=password + "\n")
        assert result.returncode == 0, result.stderr
    assert mode(pw) == 0o600, "a new password file is for the broker's eyes only"
    lines = pw.read_text().splitlines()
    assert [line.split(":")[0] for line in lines] == ["alice", "bob"]
    assert all(line.split(":", 1)[1].startswith("$7$101$") for line in lines)

    broker = Mosquitto(tmp_path, f"password_file {pw}\nallow_anonymous false")
    try:
        ok = mosquitto_pub(broker.port, f"{uid}/t", "x", extra=["-u", "alice", "-P", "s3cret"])
        assert ok.returncode == 0, ok.stderr + broker.log()
        ok = mosquitto_pub(broker.port, f"{uid}/t", "x", extra=["-u", "bob", "-P", "correct horse battery"])
        assert ok.returncode == 0, ok.stderr + broker.log()
        bad = mosquitto_pub(broker.port, f"{uid}/t", "x", extra=["-u", "alice", "-P", "s3cret!"])
        assert bad.returncode != 0
        assert "password" in bad.stderr.lower() or "authori" in bad.stderr.lower(), bad.stderr
        anonymous = mosquitto_pub(broker.port, f"{uid}/t", "x")
        assert anonymous.returncode != 0
    finally:
        broker.stop()


def test_mosquitto_passwd_file_is_accepted_by_wharf(broker_factory, tmp_path, uid):
    pw = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(pw), "carol", "pw-carol"], check=True, timeout=10)
    # Wharf adds a user to mosquitto_passwd's file; mosquitto_passwd still reads the result.
    assert passwd("--stdin", pw, "dave", stdin="pw-dave\n").returncode == 0
    subprocess.run(["mosquitto_passwd", "-b", str(pw), "erin", "pw-erin"], check=True, timeout=10)
    assert [line.split(":")[0] for line in pw.read_text().splitlines()] == ["carol", "dave", "erin"]

    b = broker_factory(f'[auth]\nallow_anonymous = false\npassword_file = "{pw}"\n')
    for user in ["carol", "dave", "erin"]:
        ok = mosquitto_pub(b.port, f"{uid}/t", "x", extra=["-u", user, "-P", f"pw-{user}"])
        assert ok.returncode == 0, ok.stderr
    wrong = raw.RawClient(b.port)
    assert wrong.connect(f"{uid}-w", username="carol", password="pw-dave")[:2] == (False, 4)


def test_change_and_delete_keep_the_rest(tmp_path):
    pw = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(pw), "alice", "a"], check=True, timeout=10)
    subprocess.run(["mosquitto_passwd", "-b", str(pw), "bob", "b"], check=True, timeout=10)
    original = pw.read_text().splitlines()
    pw.write_text(f"# managed by hand\n{original[0]}\n\n{original[1]}\n")
    os.chmod(pw, 0o640)

    changed = passwd("--stdin", pw, "alice", stdin="new\n")
    assert changed.returncode == 0, changed.stderr
    lines = pw.read_text().split("\n")
    assert lines[0] == "# managed by hand" and lines[2] == "" and lines[3] == original[1]
    assert lines[1].startswith("alice:$7$101$") and lines[1] != original[0]
    assert mode(pw) == 0o640, "the file's mode is kept"

    deleted = passwd("-D", pw, "alice")
    assert deleted.returncode == 0, deleted.stderr
    assert pw.read_text() == f"# managed by hand\n\n{original[1]}\n"
    assert mode(pw) == 0o640
    again = passwd("-D", pw, "alice")
    assert again.returncode != 0
    assert "user 'alice' is not in the password file" in again.stderr
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".passwd.")], "no temporary file left behind"


def test_without_a_terminal_or_stdin_it_says_how(tmp_path):
    pw = tmp_path / "passwd"
    result = passwd(pw, "alice")
    assert result.returncode != 0
    assert "no terminal to ask for the password" in result.stderr, result.stderr
    assert "--stdin" in result.stderr
    assert not pw.exists()


def test_refusals(tmp_path):
    pw = tmp_path / "passwd"
    assert passwd("--stdin", pw, "alice", stdin="s3cret\n").returncode == 0
    before = pw.read_text()
    cases = [
        (("--stdin", pw, "a:b"), "x\n", "must not contain ':'"),
        (("--stdin", pw, "a\tb"), "x\n", "must not contain control characters"),
        (("--stdin", pw, "bob"), "\n", "empty passwords are refused"),
        (("--stdin", pw, "bob"), "", "standard input is empty"),
        (("--stdin", "-D", pw, "alice"), "", "takes no password"),
    ]
    for args, stdin, message in cases:
        result = passwd(*args, stdin=stdin)
        assert result.returncode != 0, args
        assert message in result.stderr, (args, result.stderr)
    config = tmp_path / "wharf.toml"
    config.write_text('[auth]\nallow_anonymous = false\n')
    wrong_file = passwd("--stdin", config, "alice", stdin="x\n")
    assert wrong_file.returncode != 0
    assert "wharf.toml:1" in wrong_file.stderr, wrong_file.stderr
    assert config.read_text() == '[auth]\nallow_anonymous = false\n', "a file that is not a password file is left alone"
    assert pw.read_text() == before


def _run_on_terminal(args, answers):
    """Runs wharf with a pseudo-terminal as its controlling terminal, answering each
    prompt in turn; returns (exit code, everything the terminal showed)."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(WHARF, [WHARF, *map(str, args)])
    shown, pending = b"", list(answers)
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                shown += chunk
            if pending and shown.rstrip().lower().endswith(b"password:"):
                os.write(fd, pending.pop(0).encode() + b"\n")
                shown += b"<answered>"
        exit_deadline = time.monotonic() + 10
        while (reaped := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < exit_deadline:
            time.sleep(0.05)
        if reaped[0] == 0:
            os.kill(pid, signal.SIGKILL)  # still waiting for input: fail, don't hang
            reaped = os.waitpid(pid, 0)
        status = reaped[1]
    finally:
        os.close(fd)
    return os.waitstatus_to_exitcode(status), shown.decode(errors="replace")


def test_prompts_twice_without_echo(tmp_path):
    pw = tmp_path / "passwd"
    code, shown = _run_on_terminal(["passwd", pw, "alice"], ["typed-secret", "typed-secret"])
    assert code == 0, shown
    assert "Password:" in shown and "Reenter password:" in shown
    assert "typed-secret" not in shown, "the password is not echoed"
    assert pw.read_text().startswith("alice:$7$101$")

    code, shown = _run_on_terminal(["passwd", pw, "alice"], ["one", "two"])
    assert code != 0
    assert "the passwords do not match" in shown


def _connack(port, user, password):
    c = raw.RawClient(port)
    code = c.connect(f"reload-{user}-{time.monotonic_ns()}", username=user, password=password)[1]
    c.close()
    return code


def _wait_for(broker, text, timeout=5):
    deadline = time.monotonic() + timeout
    while text not in broker.log():
        assert time.monotonic() < deadline, f"never logged: {text}"
        time.sleep(0.05)


def test_sighup_rereads_the_password_file_and_keeps_it_when_broken(broker_factory, tmp_path):
    pw = tmp_path / "passwd"
    assert passwd("--stdin", pw, "alice", stdin="one\n").returncode == 0
    b = broker_factory(f'[auth]\npassword_file = "{pw}"\nallow_anonymous = false\n')
    connected = raw.RawClient(b.port)
    assert connected.connect("stays", username="alice", password="one")[1] == 0
    assert _connack(b.port, "bob", "two") == 4
    assert passwd("--stdin", pw, "bob", stdin="two\n").returncode == 0
    b.proc.send_signal(signal.SIGHUP)
    _wait_for(b, "password file re-read: 2 users")
    assert _connack(b.port, "bob", "two") == 0, "a user added while running can log in after SIGHUP"
    # A broken file is refused with its line; the users in force stay.
    pw.write_text(pw.read_text() + "carol:not-a-hash\n")
    b.proc.send_signal(signal.SIGHUP)
    _wait_for(b, "keeping the password file in force")
    assert f"{pw}:3" in b.log()
    assert _connack(b.port, "bob", "two") == 0
    # The connection made before both reloads is still served.
    connected.send(raw.PINGREQ_BYTES)
    assert connected.read().type == raw.PINGRESP
