"""The one exception hierarchy of oti-agent.

    AgentError
     ├── ConfigError          bad config file (carries every problem found, each with file, path, line)
     │    ├── InventoryError    bad inventory file or unknown device / group
     │    └── ExprError         a runbook condition that does not parse (also a ValueError)
     ├── PluginNotFound       a plugin name nobody registered (lists the known names; also a KeyError)
     ├── StoreError           the store cannot be opened, migrated, read or written
     ├── CheckError           a probe or a transport failed on one device; raised at the transport edge
     │    ├── ProbeTimeout      the device did not answer in time (retry next run)
     │    ├── ProbeUnavailable  refused, unreachable, or an answer that cannot be used (retry next run)
     │    │    └── MalformedAnswer  the device answered something that does not parse
     │    └── ProbeAuthFailed   wrong credentials or host key (flag the target; a person must act)
     ├── RunbookError         a run cannot go on as asked
     │    ├── StepFailed        a step's action failed on a target (the message says what and where)
     │    │    └── ApprovalDenied  the person asked said no
     │    ├── SentBack          a "No" that sends the run back to an earlier step (the manual's "Regresa a
     │    │                     la actividad 1"): the engine reruns from there, not a failure
     │    └── ResumeConflict    the runbook changed since the run started, or it runs elsewhere
     ├── AlertError           an alert that does not exist or cannot be acknowledged/resolved as asked
     ├── NotifyError          a message could not leave
     │    ├── MailError         the SMTP server refused or could not be reached (`server` tells whose fault)
     │    └── HelpdeskError     GLPI refused a ticket call or could not be reached (`server` as for mail)
     │         └── HelpdeskAuthFailed  GLPI refused the app token or the user token (a person must fix it)
     ├── BackupError          backups, tapes and custody
     │    ├── BackendError      the backup backend could not be asked, or answered nonsense
     │    │    └── TapeWait       a job waited for a tape longer than allowed and was canceled
     │    └── TapeError         a custody movement that cannot be done as asked
     ├── DocumentError        a document could not be built, rendered or archived
     ├── AuthError            who is asking could not be established (wrong password, unknown or expired
     │    │                   token, an OS user who is nobody of the registry): HTTP 401
     │    ├── LoginLocked       too many failed logins for that login or from that address (HTTP 429)
     │    └── DirectoryUnavailable  the directory could not be asked (not the person's fault; HTTP 503)
     ├── Forbidden            the person is known but does not hold the role the action needs (HTTP 403)
     └── DaemonUnavailable    a command that needs the daemon could not reach it (its socket or URL)

Third-party exceptions (pysnmp, paramiko, httpx, oracledb, winrm, SQLAlchemy) are translated into
these once, at the edge that calls the library (`agent/transports/`, `agent/store/`). A message says
what failed, where, and what to do next; it never carries a secret.
"""

from __future__ import annotations

from dataclasses import dataclass


class AgentError(Exception):
    """Base of every error oti-agent reports to a user."""


@dataclass(frozen=True)
class Problem:
    """One problem found in a file: where it is and what is wrong."""

    file: str
    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        if not self.file and not self.path:
            return self.message
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path or '<root>'}: {self.message}"


class ConfigError(AgentError):
    """The configuration (or a file it names) is invalid."""

    def __init__(self, problems: list[Problem] | str):
        if isinstance(problems, str):
            problems = [Problem(file="", path="", line=None, message=problems)]
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class InventoryError(ConfigError):
    """The inventory is invalid, or a selector names nothing."""


class ExprError(ConfigError, ValueError):
    """A runbook condition that does not parse or names something unknown."""


class PluginNotFound(AgentError, KeyError):
    """No plugin is registered under that name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class StoreError(AgentError):
    """The store could not be opened, migrated, read or written."""


class CheckError(AgentError):
    """A probe failed on one target."""


class ProbeTimeout(CheckError):
    """The target did not answer within the probe's timeout."""


class ProbeUnavailable(CheckError):
    """The target refused, was unreachable, or answered something unusable."""


class MalformedAnswer(ProbeUnavailable):
    """The target answered, but with something that does not parse."""


class ProbeAuthFailed(CheckError):
    """Credentials or host key were rejected; polling stops until a person fixes it."""


class RunbookError(AgentError):
    """A run cannot go on as asked."""


class StepFailed(RunbookError):
    """A step's action failed on a target; the message says what and where."""


class ApprovalDenied(StepFailed):
    """The person whose approval a step waits for rejected it."""


class SentBack(RunbookError):
    """A rejection that sends the run back to step `goto` (rescheduling), with the rejection's message."""

    def __init__(self, goto: str, message: str):
        super().__init__(message)
        self.goto = goto


class ResumeConflict(RunbookError):
    """The runbook changed since the run started, or the run is still active elsewhere."""


class AlertError(AgentError):
    """An alert that does not exist, or cannot be acknowledged or resolved as asked."""


class NotifyError(AgentError):
    """A message could not leave."""


class MailError(NotifyError):
    """The SMTP server refused or could not be reached.

    `server` is True when the fault is the server's (down, refusing the login): every other message
    would fail the same way. False when it is this message's own (a missing attachment, a refused
    recipient): the others can still go."""

    def __init__(self, message: str, *, server: bool = True):
        super().__init__(message)
        self.server = server


class HelpdeskError(NotifyError):
    """GLPI refused a ticket call or could not be reached; `server` as for MailError (True: every call
    would fail the same way, so the queue waits; False: this call's own fault)."""

    def __init__(self, message: str, *, server: bool = True):
        super().__init__(message)
        self.server = server


class HelpdeskAuthFailed(HelpdeskError):
    """GLPI refused the App-Token or the user token: nothing goes until a person fixes the config."""


class BackupError(AgentError):
    """Backups, tapes and custody."""


class BackendError(BackupError):
    """The backend could not be asked (not reachable, refused, an answer that makes no sense)."""


class TapeWait(BackendError):
    """A job waited for a tape longer than allowed, and was canceled."""


class TapeError(BackupError):
    """A custody movement that cannot be done as asked (unknown tape, box in the wrong state...)."""


class DocumentError(AgentError):
    """A document could not be built, rendered or archived."""


class AuthError(AgentError):
    """Who is asking could not be established. The message never says whether the login exists."""


class LoginLocked(AuthError):
    """Too many failed logins for this login or from this address; `retry_after` seconds to wait."""

    def __init__(self, message: str, retry_after: float):
        super().__init__(message)
        self.retry_after = retry_after


class DirectoryUnavailable(AuthError):
    """The office's directory could not be asked (down, TLS refused, the service account refused)."""


class Forbidden(AgentError):
    """The person is known but does not hold the role (or the token the scope) the action needs."""


class SelfApproval(Forbidden):
    """The person who started a run may not approve it."""


class ApprovedBefore(Forbidden):
    """A `distinct_from` approval: this person already approved the other step (`step`); another decides."""

    def __init__(self, message: str, step: str):
        super().__init__(message)
        self.step = step


class DaemonUnavailable(AgentError):
    """A command that needs the daemon could not reach it."""
