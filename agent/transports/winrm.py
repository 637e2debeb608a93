"""PowerShell on a Windows host over WinRM (pywinrm), for the WSUS and Defender probes.

HTTPS with the certificate checked by default (`ca_file` names the office's CA); the password is
resolved from its reference at the call and never logged. Basic over plain HTTP sends the password
in clear (base64) with every request: it is refused, by `config check` and again here before any
request, unless the credential says `allow_plain_http: true` (a network the office trusts).
Errors become the probes' own: a refused login is ProbeAuthFailed (held, not retried every cycle),
a host that does not answer is ProbeUnavailable or ProbeTimeout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from agent.core.secrets import SecretRef, library_text, resolve
from agent.errors import ConfigError, ProbeAuthFailed, ProbeTimeout, ProbeUnavailable
from agent.transports.base import AccessModel, CredentialModel, Transport


class WinrmAccess(AccessModel):
    """How to reach a Windows host's WinRM (`oti_winrm`; HTTPS by default)."""

    credential: str
    port: int = Field(5986, ge=1, le=65535)
    scheme: str = Field("https", pattern="^https?$")

    def credential_problems(self, cred: WinrmCredential) -> list[tuple[str, str]]:
        """Refuse Basic over plain HTTP (the password in clear on the wire) unless the credential allows it;
        NTLM, Kerberos and CredSSP encrypt their messages even over http. Returns (key, message)."""
        if self.scheme != "http" or cred.transport != "basic" or cred.allow_plain_http:
            return []
        return [("scheme", f"WinRM over http with credential {self.credential!r} (transport basic) sends "
                           "its password in clear to anyone on the network path: use scheme https (port "
                           "5986), or transport ntlm or kerberos; only on a network the office trusts, set "
                           f"credentials.winrm.{self.credential}.allow_plain_http: true")]


class WinrmCredential(CredentialModel):
    """A Windows login for WinRM (PowerShell remoting): WSUS, Defender."""

    user: str
    password: SecretRef
    transport: Literal["ntlm", "kerberos", "credssp", "basic"] = "ntlm"
    ca_file: Path | None = Field(None, description="the CA of the hosts' WinRM HTTPS certificates")
    allow_plain_http: bool = Field(False, description="let transport basic go over scheme http: the password "
                                   "crosses the network in clear, readable by anyone on the path; only for a "
                                   "network the office trusts (a lab, an isolated management VLAN)")


TRANSPORT = Transport("winrm", "PowerShell on Windows hosts over WinRM (pywinrm)", WinrmAccess, WinrmCredential)


def run_ps(device, config, script: str, timeout: float = 60.0) -> tuple[int, str, str]:
    """Run a PowerShell script on the device; return (exit status, stdout, stderr). Blocking."""
    import requests
    import winrm
    from winrm.exceptions import (
        InvalidCredentialsError,
        WinRMError,
        WinRMOperationTimeoutError,
        WinRMTransportError,
    )

    access = device.winrm
    if access is None:
        raise ConfigError(f"device {device.name} has no oti_winrm")
    cred = config.credential("winrm", access.credential, device.name)
    where = f"winrm {device.name} ({access.scheme}://{device.address}:{access.port})"
    refused = access.credential_problems(cred)      # config check says so too: this is the last line
    if refused:
        raise ConfigError(f"{where}: {refused[0][1]}")
    # the office's CA when given, else the system's (never an environment variable picked up silently)
    kwargs = {"ca_trust_path": str(config.path(cred.ca_file)) if cred.ca_file else None}
    validation = "validate"
    session = winrm.Session(f"{access.scheme}://{device.address}:{access.port}/wsman",
                            auth=(cred.user, resolve(cred.password, base_dir=config.base_dir).get_secret_value()),
                            transport=cred.transport, server_cert_validation=validation,
                            read_timeout_sec=timeout + 10, operation_timeout_sec=timeout, **kwargs)
    try:
        r = session.run_ps(script)
    except InvalidCredentialsError:
        raise ProbeAuthFailed(f"{where}: login as {cred.user} refused; check WinRM credential "
                              f"{access.credential!r}") from None
    except WinRMOperationTimeoutError:
        raise ProbeTimeout(f"{where}: no answer within {timeout:g}s") from None
    except (WinRMTransportError, WinRMError) as err:
        raise ProbeUnavailable(f"{where}: {library_text(err)[:300]}") from None
    except requests.exceptions.Timeout:
        raise ProbeTimeout(f"{where}: no answer within {timeout:g}s") from None
    except requests.exceptions.RequestException as err:
        reason = getattr(err, "args", [""])[0]
        raise ProbeUnavailable(f"{where}: {str(reason)[:300]}") from None
    return r.status_code, r.std_out.decode("utf-8", "replace"), r.std_err.decode("utf-8", "replace")
