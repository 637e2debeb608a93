"""Certificate expiry: the console's own (http.tls_cert) and those the SMTP, LDAP and HTTPS peers show.

The peers' certificates are read, not trusted: the doctor asks when they expire, and leaves it to the
mail and directory clients (which verify them) to say whether they are trusted.
"""

from __future__ import annotations

import asyncio
import ssl
from datetime import datetime, timedelta

from agent.monitoring.doctor import DoctorOptions, Finding, Status
from agent.monitoring.doctor.peers import Peer, named

# LDAPMessage { messageID 1, extendedReq [APPLICATION 23] { requestName [0] "1.3.6.1.4.1.1466.20037" } }
_LDAP_STARTTLS = (b"\x30\x1d\x02\x01\x01\x77\x18\x80\x16" + b"1.3.6.1.4.1.1466.20037")


async def expiry(cfg, opts: DoctorOptions) -> list[Finding]:
    """One finding per certificate: OK, WARN within `cert_warn_days` of its end, FAIL once it has ended."""
    findings = []
    if cfg.http.tls_cert is not None:
        findings.append(_file_finding(cfg.path(cfg.http.tls_cert), opts))
    peers = [p for p in named(cfg) if p.tls]
    shown = await asyncio.gather(*(_peer_finding(p, opts) for p in peers))
    return findings + [f for f in shown if f is not None]


def judge(what: str, subject: str, not_before: datetime, not_after: datetime, now: datetime,
          warn_days: int = 30) -> Finding:
    """How a certificate's validity stands at `now`."""
    until = not_after.strftime("%Y-%m-%d %H:%M UTC")
    renew = f"renew {what}'s certificate"
    if now >= not_after:
        return Finding(Status.FAIL, "tls", subject, f"{what}: the certificate expired on {until}",
                       f"{renew}: clients refuse it")
    if now < not_before:
        return Finding(Status.FAIL, "tls", subject, f"{what}: the certificate is not valid before "
                       f"{not_before:%Y-%m-%d %H:%M} UTC",
                       "check this host's clock, or the certificate's dates")
    left = not_after - now
    if left < timedelta(days=warn_days):
        return Finding(Status.WARN, "tls", subject, f"{what}: the certificate expires on {until}, in "
                       f"{left.days} day(s)", f"{renew} before then")
    return Finding(Status.OK, "tls", subject, f"{what}: the certificate is valid until {until}")


def _file_finding(path, opts: DoctorOptions) -> Finding:
    from cryptography import x509

    what = f"the console (http.tls_cert {path})"
    try:
        cert = x509.load_pem_x509_certificates(path.read_bytes())[0]     # the first is the server's own
    except OSError as err:
        return Finding(Status.FAIL, "tls", str(path), f"{what}: cannot read it: {err.strerror}",
                       "fix http.tls_cert, or give the agent's user read access to it")
    except ValueError:
        return Finding(Status.FAIL, "tls", str(path), f"{what}: not a PEM certificate",
                       "give http.tls_cert the PEM certificate (chain), server's first")
    return judge(what, str(path), cert.not_valid_before_utc, cert.not_valid_after_utc, opts.now(),
                 opts.cert_warn_days)


async def _peer_finding(peer: Peer, opts: DoctorOptions) -> Finding | None:
    """The finding on a peer's certificate; None when the peer does not answer (its own FAIL says so)."""
    from cryptography import x509

    try:
        async with asyncio.timeout(opts.timeout):
            der = await peer_certificate(peer)
    except (OSError, TimeoutError, ssl.SSLError, EOFError):
        return None
    if der is None:
        return Finding(Status.WARN, "tls", str(peer), f"{peer.what}: would not start TLS",
                       f"check its TLS set-up ({peer.key})")
    cert = x509.load_der_x509_certificate(der)
    return judge(f"{peer.what} {peer}", str(peer), cert.not_valid_before_utc, cert.not_valid_after_utc,
                 opts.now(), opts.cert_warn_days)


async def peer_certificate(peer: Peer) -> bytes | None:
    """The DER certificate a peer shows once TLS starts (at once, or after SMTP/LDAP STARTTLS)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE          # read the dates of any certificate, trusted or not
    if peer.tls == "tls":
        _reader, writer = await asyncio.open_connection(peer.host, peer.port, ssl=context,
                                                        server_hostname=peer.host)
    else:
        reader, writer = await asyncio.open_connection(peer.host, peer.port)
        starttls = _smtp_starttls if peer.tls == "smtp" else _ldap_starttls
        started = await starttls(reader, writer)
        if not started:
            writer.close()
            return None
        await writer.start_tls(context, server_hostname=peer.host)
    try:
        return writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    finally:
        writer.close()


async def _smtp_starttls(reader, writer) -> bool:
    if not (await _smtp_reply(reader)).startswith("220"):
        return False
    writer.write(b"EHLO oti-agent-doctor\r\n")
    if "STARTTLS" not in (await _smtp_reply(reader)).upper():
        return False
    writer.write(b"STARTTLS\r\n")
    return (await _smtp_reply(reader)).startswith("220")


async def _smtp_reply(reader) -> str:
    """A whole SMTP reply (its continuation lines `250-...` joined)."""
    lines = []
    while True:
        line = (await reader.readline()).decode(errors="replace")
        if not line:
            raise EOFError("the SMTP server closed the connection")
        lines.append(line)
        if len(line) < 4 or line[3] != "-":
            return "".join(lines)


async def _ldap_starttls(reader, writer) -> bool:
    writer.write(_LDAP_STARTTLS)
    answer = await reader.read(512)
    # extendedResp [APPLICATION 24] whose resultCode (ENUMERATED, the first element) is 0: success
    at = answer.find(b"\x78")
    return at > 0 and b"\x0a\x01\x00" in answer[at:at + 8]
