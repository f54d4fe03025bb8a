"""The metrics listener protected: TLS and a bearer token, or basic auth
against a password file made by `wharf passwd`. A real Prometheus scrapes it
with the jobs Exporters/prometheus/prometheus.yml shows, curl and `wharf top`
reach it over https, and SIGHUP swaps the token and the certificate."""
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.request

import pytest

from certs import make_pki, renew_server
from conftest import WHARF, free_port
from mqttclients import paho
from scrapeconfig import commented_jobs, with_target
from test_18_prometheus import api, poll, query
from test_20_top import Tmux

TOKEN = "wharf-scrape-token-1"


@pytest.fixture
def pki(tmp_path):
    return make_pki(tmp_path / "pki")


def private_file(path, text):
    path.write_text(text)
    os.chmod(path, 0o600)
    return path


def tls_token_config(pki, token_file, extra=""):
    return (f'[metrics]\ntls_cert = "{pki.server_cert}"\ntls_key = "{pki.server_key}"\n'
            f'token_file = "{token_file}"\n{extra}')


def curl(url, *args):
    """Status code, headers (lower-cased names) and body of one request."""
    result = subprocess.run(["curl", "-sS", "-i", "--max-time", "10", *args, url], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    head, _, body = result.stdout.replace("\r\n", "\n").partition("\n\n")
    lines = head.split("\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def https_get(port, path, ca, token=None):
    request = urllib.request.Request(f"https://127.0.0.1:{port}{path}")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5, context=ssl.create_default_context(cafile=str(ca))) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def served_certificate_cn(port, ca):
    context = ssl.create_default_context(cafile=str(ca))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            return dict(pair[0] for pair in tls.getpeercert()["subject"])["commonName"]


@pytest.fixture
def prometheus(tmp_path):
    """Starts a real Prometheus with one scrape job, from a directory that
    holds the files the job names (its paths are relative to the config)."""
    started = []

    def start(job, files):
        directory = tmp_path / f"prometheus-{len(started)}"
        directory.mkdir()
        for name, source in files.items():
            shutil.copy(source, directory / name)
            os.chmod(directory / name, 0o600)
        port = free_port()
        config = directory / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 1s\nscrape_configs:\n" + job)
        log = directory / "prometheus.log"
        proc = subprocess.Popen(
            [shutil.which("prometheus"), f"--config.file={config}", f"--storage.tsdb.path={directory / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            stdout=log.open("w"), stderr=subprocess.STDOUT)
        started.append(proc)
        ready = poll(lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2).status == 200, 30)
        assert ready, log.read_text()
        return port

    yield start
    for proc in started:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def target(port):
    targets = api(port, "/api/v1/targets")["data"]["activeTargets"]
    return targets[0] if targets else {}


def test_prometheus_scrapes_over_tls_with_a_token(broker_factory, pki, prometheus, tmp_path, uid):
    token_file = private_file(tmp_path / "metrics.token", TOKEN + "\n")
    b = broker_factory(tls_token_config(pki, token_file))
    sub = paho(b.port, f"{uid}-sub", clean=False)
    sub.subscribe(f"{uid}/t", 1)
    sub.disconnect()

    job = with_target(commented_jobs()["bearer"], f"127.0.0.1:{b.metrics_port}", "1s")
    port = prometheus(job, {"wharf-ca.crt": pki.ca, "wharf-metrics.token": token_file})
    assert poll(lambda: target(port).get("health") == "up", 20), target(port)
    assert target(port)["scrapeUrl"].startswith("https://")
    # Series from the broker, its queue among them, arrived through TLS and the token.
    assert poll(lambda: query(port, f'wharf_queue_depth{{queue="{uid}-sub"}}') == [0.0], 10)
    assert query(port, 'wharf_http_requests_refused_total{reason="unauthorized"}') == [0.0]


def test_requests_need_the_token_but_health_checks_do_not(broker_factory, pki, tmp_path):
    token_file = private_file(tmp_path / "metrics.token", TOKEN)
    b = broker_factory(tls_token_config(pki, token_file))
    url = f"https://127.0.0.1:{b.metrics_port}"
    cacert = ["--cacert", str(pki.ca)]

    status, headers, _ = curl(f"{url}/metrics", *cacert)
    assert status == 401 and headers["www-authenticate"] == 'Bearer realm="wharf"'
    status, headers, _ = curl(f"{url}/api/v1/snapshot", *cacert, "-H", "Authorization: Bearer wrong")
    assert status == 401 and headers["www-authenticate"] == 'Bearer realm="wharf"'
    status, _, _ = curl(f"{url}/metrics", *cacert, "-H", f"Authorization: Bearer {TOKEN}x")
    assert status == 401

    status, headers, body = curl(f"{url}/metrics", *cacert, "-H", f"Authorization: Bearer {TOKEN}")
    assert status == 200 and "wharf_connections " in body
    assert 'wharf_http_requests_refused_total{reason="unauthorized"} 3' in body
    status, _, body = curl(f"{url}/api/v1/snapshot", *cacert, "--oauth2-bearer", TOKEN)
    assert status == 200 and json.loads(body)["http"]["refusedTotal"]["unauthorized"] == 3

    # Health checks stay open, for load balancers and scripts.
    assert curl(f"{url}/healthz", *cacert)[:1] == (200,)
    assert curl(f"{url}/readyz", *cacert)[:1] == (200,)
    # Plain HTTP gets nothing from a TLS listener; an unknown CA is refused by the client.
    plain = subprocess.run(["curl", "-sS", "--max-time", "5", f"http://127.0.0.1:{b.metrics_port}/healthz"],
                           capture_output=True, text=True, timeout=30)
    assert plain.returncode != 0
    untrusted = subprocess.run(["curl", "-sS", "--max-time", "5", f"{url}/healthz"], capture_output=True, text=True, timeout=30)
    assert untrusted.returncode == 60, untrusted.stderr  # CURLE_PEER_FAILED_VERIFICATION
    # TLS 1.2 and 1.3 only.
    old = subprocess.run(["curl", "-sS", "--max-time", "5", "--tls-max", "1.1", *cacert, f"{url}/healthz"],
                         capture_output=True, text=True, timeout=30)
    assert old.returncode != 0


def test_health_checks_can_require_the_token(broker_factory, pki, tmp_path):
    token_file = private_file(tmp_path / "metrics.token", TOKEN)
    b = broker_factory(tls_token_config(pki, token_file, "open_health_checks = false\n"))
    assert https_get(b.metrics_port, "/healthz", pki.ca)[0] == 401
    assert https_get(b.metrics_port, "/readyz", pki.ca, token=TOKEN) == (200, "ready\n")


def test_basic_auth_with_a_wharf_passwd_file(broker_factory, prometheus, tmp_path):
    passwd = tmp_path / "metrics.passwd"
    made = subprocess.run([WHARF, "passwd", "--stdin", str(passwd), "prometheus"], input="scrape pass\n",
                          capture_output=True, text=True, timeout=30, start_new_session=True)
    assert made.returncode == 0, made.stderr
    b = broker_factory(f'[metrics]\npassword_file = "{passwd}"\n')
    url = f"http://127.0.0.1:{b.metrics_port}/metrics"
    status, headers, _ = curl(url)
    assert status == 401 and headers["www-authenticate"] == 'Basic realm="wharf"'
    assert curl(url, "-u", "prometheus:wrong")[0] == 401
    assert curl(url, "-u", "nobody:scrape pass")[0] == 401
    assert curl(url, "-H", f"Authorization: Bearer {TOKEN}")[0] == 401
    status, _, body = curl(url, "-u", "prometheus:scrape pass")
    assert status == 200 and "wharf_connections " in body
    assert curl(f"http://127.0.0.1:{b.metrics_port}/healthz")[0] == 200

    # The shipped basic_auth job, with the password in its password_file.
    password_file = private_file(tmp_path / "prometheus.password", "scrape pass\n")
    job = with_target(commented_jobs()["basic"], f"127.0.0.1:{b.metrics_port}", "1s")
    port = prometheus(job, {"wharf-metrics.password": password_file})
    assert poll(lambda: target(port).get("health") == "up", 20), target(port)
    assert poll(lambda: query(port, "wharf_connections"), 10)


def test_sighup_swaps_the_token_and_keeps_it_when_the_new_one_is_broken(broker_factory, pki, tmp_path):
    token_file = private_file(tmp_path / "metrics.token", TOKEN)
    b = broker_factory(tls_token_config(pki, token_file))
    assert https_get(b.metrics_port, "/metrics", pki.ca, token=TOKEN)[0] == 200

    private_file(token_file, "the-next-token\n")
    b.proc.send_signal(signal.SIGHUP)
    assert poll(lambda: https_get(b.metrics_port, "/metrics", pki.ca, token="the-next-token")[0] == 200, 10), b.log()
    assert https_get(b.metrics_port, "/metrics", pki.ca, token=TOKEN)[0] == 401

    # An empty new file is refused, named in the log, and the token in force stays.
    private_file(token_file, "\n")
    b.proc.send_signal(signal.SIGHUP)
    assert poll(lambda: "keeping the credentials in force" in b.log(), 10), b.log()
    assert str(token_file) in b.log() and "holds no token" in b.log()
    assert https_get(b.metrics_port, "/metrics", pki.ca, token="the-next-token")[0] == 200
    assert b.proc.poll() is None


def test_sighup_reloads_the_metrics_certificate(broker_factory, pki, tmp_path):
    token_file = private_file(tmp_path / "metrics.token", TOKEN)
    b = broker_factory(tls_token_config(pki, token_file))
    assert served_certificate_cn(b.metrics_port, pki.ca) == "localhost"
    renew_server(pki, "renewed")
    b.proc.send_signal(signal.SIGHUP)
    assert poll(lambda: served_certificate_cn(b.metrics_port, pki.ca) == "renewed", 10), b.log()
    assert "metrics: TLS certificate and key re-read" in b.log()


def test_unusable_files_stop_the_broker_with_the_reason(tmp_path, pki):
    def serve(config):
        path = tmp_path / "wharf.toml"
        path.write_text(config)
        result = subprocess.run([WHARF, "serve", "--config", str(path), "--port", "0", "--metrics-port", "0", "--in-memory"],
                                capture_output=True, text=True, timeout=30)
        assert result.returncode != 0
        return result.stderr

    token_file = tmp_path / "metrics.token"
    token_file.write_text(TOKEN)
    os.chmod(token_file, 0o644)
    err = serve(f'[metrics]\ntoken_file = "{token_file}"\n')
    assert str(token_file) in err and "metrics.token_file" in err and "readable by every user" in err, err

    private_file(token_file, "   \n")
    err = serve(f'[metrics]\ntoken_file = "{token_file}"\n')
    assert str(token_file) in err and "holds no token" in err, err

    err = serve(f'[metrics]\ntoken_file = "{token_file}"\npassword_file = "passwd"\n')
    assert "wharf.toml" in err and "metrics.password_file" in err and "metrics.token_file" in err, err

    os.chmod(pki.server_key, 0o644)
    err = serve(f'[metrics]\ntls_cert = "{pki.server_cert}"\ntls_key = "{pki.server_key}"\n')
    assert "metrics.tls_key" in err and str(pki.server_key) in err and "readable by every user" in err, err


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux comes from scripts/ensure-deps")
def test_top_over_https_with_a_ca_file_and_a_token(broker_factory, pki, tmp_path, uid):
    token_file = private_file(tmp_path / "metrics.token", TOKEN)
    b = broker_factory(tls_token_config(pki, token_file))
    worker = f"{uid}-worker"
    sub = paho(b.port, worker, clean=False)
    sub.subscribe(f"{uid}/jobs", 1)
    sub.disconnect()
    pub = paho(b.port, f"{uid}-pub")
    for i in range(12):
        pub.publish(f"{uid}/jobs", f"job {i}".encode(), qos=1)
    url = f"https://127.0.0.1:{b.metrics_port}"
    sessions = []

    def top(*args):
        session = Tmux(f"wharf-top-{uid}-{len(sessions)}", " ".join([WHARF, "top", "--url", url, "--interval", "0.5", *args]))
        sessions.append(session)
        return session

    try:
        good = top("--ca-file", str(pki.ca), "--token-file", str(token_file))
        screen = good.wait_for(lambda s: worker in s and "wharf top" in s)
        row = next(line for line in screen.splitlines() if worker in line)
        assert row.split()[1] == "12", row  # the queue's depth
        assert "disconnected" not in screen
        good.keys("q")
        good.wait_for(lambda s: "WHARF-EXITED=0" in s)

        wrong = private_file(tmp_path / "wrong.token", "not-the-token")
        top("--ca-file", str(pki.ca), "--token-file", str(wrong)).wait_for(
            lambda s: "unauthorized: check --token-file" in s and "disconnected, retrying" in s)
        top("--ca-file", str(pki.ca)).wait_for(lambda s: "unauthorized: check --token-file" in s)
        top("--token-file", str(token_file)).wait_for(lambda s: "certificate not trusted" in s)
    finally:
        for session in sessions:
            session.kill()

    # A bad file is a plain error before the screen starts.
    empty = private_file(tmp_path / "empty.token", "")
    result = subprocess.run([WHARF, "top", "--url", url, "--token-file", str(empty)], capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and f"--token-file {empty}: holds no token" in result.stderr, result.stderr
    result = subprocess.run([WHARF, "top", "--url", f"http://127.0.0.1:{b.metrics_port}", "--ca-file", str(pki.ca)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and "applies to https URLs only" in result.stderr, result.stderr
