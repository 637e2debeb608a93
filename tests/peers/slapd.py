"""A real OpenLDAP slapd on loopback: ldap:// (with StartTLS) and ldaps://, a small office directory.

The certificate is signed by a CA made here (subjectAltName IP:127.0.0.1 and DNS:localhost), and a
second, unrelated CA is made too, so a test can point a client at the wrong one. The memberof overlay
is loaded on the main suffix, so user entries carry memberOf as on Active Directory; a second suffix
holds the same people and groups without it, as an OpenLDAP without the overlay (roles found by a
search of the groups). The data is added with ldapadd after start (slapadd bypasses overlays, so it
would leave memberOf empty). ACLs are the usual ones: anyone may authenticate, a person reads their
own entry, people read the groups, and only the service account (and the rootdn) read the rest.
Everything lives in one tempfile.mkdtemp folder, removed by stop().
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.peers.common import free_tcp_port, stop, wait_tcp
from tests.peers.programs import path

BASE = "dc=entidad,dc=gob,dc=pe"
PLAIN_BASE = "dc=archivo,dc=gob,dc=pe"         # the same directory without the memberof overlay

# login -> (cn, sn, mail, password); ctorres is in no group
USERS = {
    "mrojas": ("María Rojas", "Rojas", "mrojas@entidad.gob.pe", "Jefa-2024!"),
    "agarcia": ("Ana García", "García", "agarcia@entidad.gob.pe", "gerencia general"),
    "lquispe": ("Luis Quispe", "Quispe", "lquispe@entidad.gob.pe", "s0porte#IS"),
    "ctorres": ("Carlos Torres", "Torres", None, "sin-grupo-99"),
}
# group cn -> members; 'biblioteca' is a group the agent maps to no role
GROUP_MEMBERS = {
    "jefatura-oti": ["mrojas"],
    "gerencia-general": ["agarcia"],
    "especialistas-is": ["lquispe", "mrojas"],
    "biblioteca": ["lquispe"],
}


@dataclass
class SlapdPeer:
    """A running slapd and what a client needs to reach it."""

    process: subprocess.Popen
    workdir: Path
    log: Path
    url_ldap: str
    url_ldaps: str
    ca_file: Path
    other_ca_file: Path          # a CA that did not sign the server's certificate
    base_dn: str = BASE
    plain_base_dn: str = PLAIN_BASE
    service_password: str = "servicio-oti-agent"
    root_password: str = "raiz-de-pruebas"
    users: dict[str, str] = field(default_factory=lambda: {k: v[3] for k, v in USERS.items()})

    @staticmethod
    def people_dn(base: str = BASE) -> str:
        return f"ou=people,{base}"

    @staticmethod
    def groups_dn(base: str = BASE) -> str:
        return f"ou=groups,{base}"

    @staticmethod
    def service_dn(base: str = BASE) -> str:
        return f"cn=oti-agent,ou=services,{base}"

    @staticmethod
    def root_dn(base: str = BASE) -> str:
        return f"cn=admin,{base}"

    def stop(self) -> None:
        """Stop slapd and remove its folder."""
        stop(self.process)
        shutil.rmtree(self.workdir, ignore_errors=True)


def ssha(password: str) -> str:
    """An {SSHA} userPassword, as slappasswd writes it (without putting the password on a command line)."""
    salt = os.urandom(8)
    digest = hashlib.sha1(password.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def _openssl(*args: str, cwd: Path) -> None:
    done = subprocess.run([path("openssl"), *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {done.stderr[-1500:]}")


def _ca(folder: Path, name: str) -> None:
    """A self-signed CA: NAME.key and NAME.pem."""
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2", "-subj", f"/CN=oti test {name}",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=folder)


def make_certificates(folder: Path) -> None:
    """ca.pem signs server.pem (127.0.0.1, localhost); other-ca.pem signs nothing slapd shows."""
    _ca(folder, "ca")
    _ca(folder, "other-ca")
    (folder / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                                       "extendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n")
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
             "server.key", "-out", "server.csr", "-subj", "/CN=localhost", cwd=folder)
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "server.pem", "-days", "2", "-extfile", "server.ext", cwd=folder)
    for key in folder.glob("*.key"):
        key.chmod(0o600)


def _config(folder: Path, root_password: str) -> str:
    """slapd.conf: both databases, TLS, and the memberof overlay on the main one only."""
    head = f"""include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
pidfile {folder}/slapd.pid
argsfile {folder}/slapd.args
TLSCACertificateFile {folder}/ca.pem
TLSCertificateFile {folder}/server.pem
TLSCertificateKeyFile {folder}/server.key
"""
    return head + _database(folder / "db", BASE, root_password, memberof=True) + _database(
        folder / "db-plain", PLAIN_BASE, root_password, memberof=False)


def _database(folder: Path, base: str, root_password: str, memberof: bool) -> str:
    service = SlapdPeer.service_dn(base)
    return f"""
database mdb
maxsize 10485760
suffix "{base}"
rootdn "{SlapdPeer.root_dn(base)}"
rootpw {ssha(root_password)}
directory {folder}
{"overlay memberof" if memberof else ""}

access to attrs=userPassword
    by anonymous auth
    by * none
access to dn.subtree="{SlapdPeer.groups_dn(base)}"
    by dn.exact="{service}" read
    by users read
    by * none
access to *
    by self read
    by dn.exact="{service}" read
    by anonymous auth
    by * none
"""


def _value(attr: str, value: str) -> str:
    """One LDIF line; non-ASCII values base64-encoded as RFC 2849 asks."""
    if value.isascii():
        return f"{attr}: {value}"
    return f"{attr}:: {base64.b64encode(value.encode()).decode()}"


def _entry(dn: str, *pairs: tuple[str, str]) -> str:
    return "\n".join([f"dn: {dn}", *(_value(a, v) for a, v in pairs)]) + "\n"


def directory_ldif(base: str, service_password: str) -> str:
    """The office's directory: units, people, then groups (so memberof finds the members)."""
    dc = base.split(",")[0].split("=")[1]
    people = SlapdPeer.people_dn(base)
    entries = [
        _entry(base, ("objectClass", "dcObject"), ("objectClass", "organization"), ("dc", dc),
               ("o", "Entidad de pruebas")),
        *(_entry(f"ou={ou},{base}", ("objectClass", "organizationalUnit"), ("ou", ou))
          for ou in ("people", "groups", "services")),
        _entry(SlapdPeer.service_dn(base), ("objectClass", "applicationProcess"),
               ("objectClass", "simpleSecurityObject"), ("cn", "oti-agent"),
               ("userPassword", ssha(service_password))),
    ]
    for login, (cn, sn, mail, password) in USERS.items():
        entries.append(_entry(f"uid={login},{people}", ("objectClass", "inetOrgPerson"), ("uid", login),
                              ("cn", cn), ("sn", sn), *([("mail", mail)] if mail else []),
                              ("userPassword", ssha(password))))
    for cn, members in GROUP_MEMBERS.items():
        entries.append(_entry(f"cn={cn},{SlapdPeer.groups_dn(base)}", ("objectClass", "groupOfNames"),
                              ("cn", cn), *(("member", f"uid={m},{people}") for m in members)))
    return "\n".join(entries)


def _load(peer: SlapdPeer, base: str) -> None:
    """Add one directory over ldap:// as its rootdn (the password read from a file, not the command line)."""
    name = base.split(",")[0].split("=")[1]
    ldif, secret = peer.workdir / f"{name}.ldif", peer.workdir / "root.secret"
    ldif.write_text(directory_ldif(base, peer.service_password), encoding="utf-8")
    secret.write_text(peer.root_password)          # ldapadd -y takes the whole file: no newline
    secret.chmod(0o600)
    done = subprocess.run([path("ldapadd"), "-x", "-H", peer.url_ldap, "-D", peer.root_dn(base), "-y",
                           str(secret), "-f", str(ldif)], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        peer.stop()
        raise RuntimeError(f"ldapadd of {base} into the test slapd failed ({done.returncode}): "
                           f"{done.stderr[-1500:]}")


def start_slapd() -> SlapdPeer:
    """Start slapd on two free 127.0.0.1 ports (ldap://, ldaps://) with the directory loaded.

    Fails loudly, with slapd's log, when it does not come up within 20 s."""
    folder = Path(tempfile.mkdtemp(prefix="oti-slapd-"))
    try:
        make_certificates(folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    for db in ("db", "db-plain"):
        (folder / db).mkdir(mode=0o700)
    config, log = folder / "slapd.conf", folder / "slapd.log"
    config.write_text(_config(folder, SlapdPeer.root_password))
    port, tls_port = free_tcp_port(), free_tcp_port()
    urls = f"ldap://127.0.0.1:{port}/ ldaps://127.0.0.1:{tls_port}/"
    with open(log, "w") as out:
        proc = subprocess.Popen([path("slapd"), "-f", str(config), "-h", urls, "-d", "256"],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    peer = SlapdPeer(process=proc, workdir=folder, log=log, url_ldap=f"ldap://127.0.0.1:{port}",
                     url_ldaps=f"ldaps://127.0.0.1:{tls_port}", ca_file=folder / "ca.pem",
                     other_ca_file=folder / "other-ca.pem")
    try:
        wait_tcp(port, proc, "slapd", log, timeout=20)
        wait_tcp(tls_port, proc, "slapd", log, timeout=20)
    except BaseException:
        peer.stop()
        raise
    for base in (BASE, PLAIN_BASE):
        _load(peer, base)
    return peer
