"""Test certificates, made by `openssl` for each test: no private key is
committed. A CA, a server certificate for 127.0.0.1/localhost, client
certificates from that CA (one valid, one expired) and one from another CA."""
import os
import pathlib
import subprocess
from dataclasses import dataclass


@dataclass
class PKI:
    dir: pathlib.Path
    ca: pathlib.Path
    server_cert: pathlib.Path
    server_key: pathlib.Path

    def client(self, name: str) -> tuple[pathlib.Path, pathlib.Path]:
        return self.dir / f"{name}.crt", self.dir / f"{name}.key"


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _key(dir: pathlib.Path, name: str) -> str:
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", f"{name}.key", cwd=dir)
    os.chmod(dir / f"{name}.key", 0o600)
    return f"{name}.key"


def _ca(dir: pathlib.Path, name: str):
    _key(dir, name)
    _openssl("req", "-x509", "-new", "-key", f"{name}.key", "-subj", f"/CN=Wharf test CA {name}", "-days", "2",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             "-out", f"{name}.crt", cwd=dir)


def _signed(dir: pathlib.Path, name: str, ca: str, subject: str, extensions: str, *, expired=False):
    _key(dir, name)
    _openssl("req", "-new", "-key", f"{name}.key", "-subj", subject, "-out", f"{name}.csr", cwd=dir)
    (dir / f"{name}.ext").write_text(extensions + "\n")
    if not expired:
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key", "-CAcreateserial",
                 "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.crt", cwd=dir)
        return
    # `openssl x509` cannot back-date; `openssl ca` can, with a throwaway database.
    db = dir / f"{name}-ca"
    db.mkdir()
    (db / "index.txt").write_text("")
    (db / "serial").write_text("1000\n")
    (db / "ca.cnf").write_text(f"""[ca]
default_ca = test
[test]
database = {db}/index.txt
serial = {db}/serial
new_certs_dir = {db}
default_md = sha256
policy = anything
copy_extensions = none
[anything]
commonName = supplied
""")
    _openssl("ca", "-batch", "-config", str(db / "ca.cnf"), "-cert", f"{ca}.crt", "-keyfile", f"{ca}.key",
             "-in", f"{name}.csr", "-startdate", "20200101000000Z", "-enddate", "20200102000000Z",
             "-extfile", f"{name}.ext", "-out", f"{name}.crt", "-notext", cwd=dir)


def make_pki(dir: pathlib.Path, server_cn="localhost") -> PKI:
    """The CA `ca`, a server certificate, and clients: `alice` (CN alice,
    SAN dns alice.example and email alice@example.com), `expired` (from
    `ca`, expired in 2020) and `stranger` (from another CA)."""
    dir.mkdir(parents=True, exist_ok=True)
    _ca(dir, "ca")
    _ca(dir, "other-ca")
    _signed(dir, "server", "ca", f"/CN={server_cn}",
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth")
    client_ext = "extendedKeyUsage=clientAuth\nsubjectAltName=DNS:{0}.example,email:{0}@example.com"
    _signed(dir, "alice", "ca", "/CN=alice", client_ext.format("alice"))
    _signed(dir, "expired", "ca", "/CN=expired", client_ext.format("expired"), expired=True)
    _signed(dir, "stranger", "other-ca", "/CN=stranger", client_ext.format("stranger"))
    return PKI(dir, dir / "ca.crt", dir / "server.crt", dir / "server.key")


def renew_server(pki: PKI, cn: str):
    """A new server certificate and key in place of the old (for SIGHUP tests)."""
    _signed(pki.dir, "server", "ca", f"/CN={cn}", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth")
