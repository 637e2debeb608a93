"""The agent's configuration: pydantic models, loaded from YAML with every error located.

`load(path)` returns a validated `AgentConfig`; the daemon refuses to start on a bad file, and
`oti-agent config check` prints every problem with its file, YAML path and line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from agent.core import config_rules as rules
from agent.core import yamlfile
from agent.core.automation import PolicySpec, ScheduleSpec
from agent.core.compliance import CompliancePolicy
from agent.core.config_assets import RenewalsSection
from agent.core.config_daemon import (  # noqa: F401 - re-exported: the config's sections are imported from here
    DEFAULT_HTTP_PORT,
    DEFAULT_TIMEZONE,
    AgentSection,
    Delay,
    Duration,
    HttpSection,
    RetentionSection,
    SchedulerSection,
    StoreSection,
    SyslogSection,
    TrapsSection,
    _Model,
    parse_duration,
)
from agent.core.config_drills import DrillsSection
from agent.core.config_glpi import GlpiSection
from agent.core.config_integrity import IntegritySection
from agent.core.config_power import PowerSection
from agent.core.inventory import Kind
from agent.core.people import PeopleSection
from agent.core.secrets import SecretRef
from agent.core.yamlfile import problems_from, repeated
from agent.errors import ConfigError, Problem


def _credentials_model() -> type[BaseModel]:
    """`credentials:` has one section per transport (snmp, ssh, ipmi, winrm, oracle...), each a map of named
    credentials validated by that transport's model; a section no transport declares is an unknown key."""
    global _CREDENTIALS
    if _CREDENTIALS is None:
        from pydantic import create_model

        from agent.core.plugins import transports

        fields = {name: (dict[str, t.credential], {}) for name, t in transports().items() if t.credential is not None}
        _CREDENTIALS = create_model("Credentials", __config__=ConfigDict(extra="forbid", frozen=True), **fields)
    return _CREDENTIALS


_CREDENTIALS: type[BaseModel] | None = None


def _credentials(value: Any) -> Any:
    return value if isinstance(value, BaseModel) else _credentials_model().model_validate(value or {})


Credentials = Annotated[Any, BeforeValidator(_credentials)]
"""Named credentials, by transport; the inventory refers to them by name."""


class MailSection(_Model):
    """Outgoing mail: the SMTP server and the recipients of each role."""

    host: str = "127.0.0.1"
    port: int = Field(25, ge=1, le=65535)
    starttls: bool = True
    user: str | None = None
    password: SecretRef | None = None
    sender: str = "oti-agent@localhost"
    timeout: Duration = 20.0
    max_attempts: int = Field(6, ge=1, le=100, description="a message that fails for a reason of its own (a file "
                              "gone, a mailbox refused) is tried this many times, then marked failed")
    retry_after: Duration = Field(60.0, description="its first retry; each next one waits twice as long (at most 1h)")
    templates_dir: Path | None = Field(None, description="a folder of mail templates that replace the shipped ones")
    recipients: dict[str, list[str]] = Field({}, description="role (jefa, gg, com, isp, especialistas...) -> "
                                             "addresses")


class Selector(_Model):
    """Which inventory devices a check group covers; empty lists match everything."""

    kinds: list[Kind] = []
    groups: list[str] = []
    names: list[str] = []
    criticality: list[Literal["critico", "no_critico"]] = []
    sites: list[str] = []


class CheckEntry(_Model):
    """One check to run on each target of a group, with the plugin's own options."""

    check: str
    options: dict[str, Any] = {}
    timeout: Duration | None = None


class CheckGroup(_Model):
    """Checks that run together at one interval on a set of devices."""

    name: str
    interval: Duration = 60.0
    timeout: Duration = 10.0
    targets: Selector = Selector()
    checks: list[CheckEntry] = Field(min_length=1)


class BackendEntry(_Model):
    """A backup backend: its type (a registered plugin) and the plugin's own options."""

    type: str
    options: dict[str, Any] = {}


class CustodySection(_Model):
    """The tape custody company (empresa de resguardo)."""

    company: str = "empresa de resguardo"
    recipients: str = Field("custodia", description="mail role (mail.recipients) of the custody company")
    box_capacity: int = Field(20, ge=1, description="tapes a custody box holds")


class BackupsSection(_Model):
    """Backups on the asset matrix's calendar (S.04.04.01.02_P, copias de respaldo)."""

    matrix: Path | None = Field(None, description="the asset matrix file (Anexo 01)")
    backends: dict[str, BackendEntry] = {}
    retries: int = Field(2, ge=0, le=10, description="runs again after a failed backup, then alert")
    retry_delay: Duration = 600.0
    job_timeout: Duration = Field(6 * 3600.0, description="a job still running after this is canceled")
    poll_every: Duration = Field(10.0, description="how often a running job's status is read")
    check_every: Duration = Field(60.0, description="how often the scheduler looks for assets due")
    catch_up: Duration = Field(12 * 3600.0, description="a scheduled backup missed (agent down) is still run "
                               "this long after its time; older ones are left to the freshness alert")
    grace: Duration = Field(6 * 3600.0, description="how late a backup may be before it is stale")
    custody: CustodySection = CustodySection()
    responsible: str = Field("Especialista en IS", description="who signs the bitácoras (Responsable)")
    log_time: str = Field("07:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
                          description="when the daemon writes the previous day's bitácora (Anexo 03)")
    drills: DrillsSection = DrillsSection()


class EscalationStep(_Model):
    """Who is told, how long after the alert opened (S.04.04.01.03_P, activities 8–9)."""

    after: Delay = 0.0
    to: list[str] = Field([], description="mail roles (mail.recipients)")
    vendor: bool = Field(False, description="also the device's vendor (oti_vendor.email)")
    cc: list[str] = Field([], description="mail roles in copy (the jefa, when the vendor is written to)")
    when: Literal["siempre", "horario_oficina", "fuera_de_horario"] = Field(
        "siempre", description="send this step only in office hours, or only outside them (weekends and "
                               "Peru's public holidays are outside); otherwise it is passed over")

    @model_validator(mode="after")
    def _someone(self):
        if not self.to and not self.vendor:
            raise ValueError("an escalation step needs `to` roles or `vendor: true`")
        return self


class EscalationPolicy(_Model):
    """Escalation for some alerts: the first policy whose severities and kinds match is used."""

    name: str
    severities: list[Literal["warning", "critical"]] = ["warning", "critical"]
    kinds: list[str] = Field([], description="device kinds (empty: all)")
    steps: list[EscalationStep] = Field(min_length=1)
    repeat: Duration | None = Field(None, description="re-send the last step this often while unacknowledged")


class OfficeHours(_Model):
    """When the office works: weekdays and hours, in agent.timezone, except public holidays."""

    days: str = Field("L M X J V", description="weekdays, as the asset matrix writes them")
    start: str = Field("08:30", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    end: str = Field("17:30", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    holidays: list[str] = Field([], description="extra non-working days, YYYY-MM-DD (Peru's national holidays "
                                                "are known already)")

    @field_validator("days")
    @classmethod
    def _days(cls, v: str) -> str:
        from agent.core.calendar import Periodicity

        if Periodicity.parse(v).kind != "dias":          # an ambiguous 'L M J V' is refused here, with its line
            raise ValueError(f"{v!r}: give the office's weekdays (L M X J V, lunes a viernes)")
        return v


class AlertmanagerAuth(_Model):
    """How to log in to an Alertmanager that asks for it (its web.config.file): HTTP basic auth or a bearer
    token, the secrets as references."""

    username: str | None = None
    password: SecretRef | None = None
    bearer_token: SecretRef | None = None

    @model_validator(mode="after")
    def _one_way(self):
        basic = self.username is not None or self.password is not None
        if basic == (self.bearer_token is not None):
            raise ValueError("give either username and password (basic auth) or bearer_token: one of them")
        if basic and (self.username is None or self.password is None):
            raise ValueError("basic auth needs both username and password")
        return self


class AlertsSection(_Model):
    """Alerts born from state changes, and how they escalate."""

    office_hours: OfficeHours = OfficeHours()
    resolve_after: Duration = Field(300.0, description="an alert ends after its reading is OK this long")
    no_answer_runs: int = Field(3, ge=1, description="a device (or one of its checks) that does not answer this "
                                "many polls in a row is an alert of its own, `sin respuesta`")
    no_answer_after: Duration = Field(300.0, description="... or that has not answered for this long")
    flap_changes: int = Field(6, ge=2, description="state changes within flap_window that make an alert flap")
    flap_window: Duration = 1800.0
    tick: Duration = Field(15.0, description="how often escalation and the outbox are looked at")
    policies: list[EscalationPolicy] = []
    alertmanager: str | None = Field(None, pattern=r"^https?://",
                                     description="also push every alert to this Alertmanager (API v2); "
                                                 "credentials go in alertmanager_auth, never in the URL")
    alertmanager_auth: AlertmanagerAuth | None = None

    @field_validator("alertmanager")
    @classmethod
    def _no_userinfo(cls, value: str | None) -> str | None:
        return rules.no_userinfo(value, "alerts.alertmanager_auth")


class ReportsSection(_Model):
    """The office's documents sent by mail."""

    office: str = Field("Oficina de Tecnologías de la Información", description="the office named in every "
                        "document's header block")
    responsible: str = Field("Especialista en IS", description="Responsable on the daily checklist")
    daily_time: str = Field("07:30", pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
                            description="when the daily checklist is written and mailed (agent.timezone)")
    daily_to: list[str] = Field(["jefa"], description="mail roles that receive it")


class AgentConfig(_Model):
    """The whole configuration file."""

    agent: AgentSection = AgentSection()
    store: StoreSection = StoreSection()
    http: HttpSection = HttpSection()
    scheduler: SchedulerSection = SchedulerSection()
    traps: TrapsSection = TrapsSection()
    syslog: SyslogSection = SyslogSection()
    inventory: Path = Path("inventory/example.yaml")
    profiles_dirs: list[Path] = Field([], description="extra folders of SNMP device profiles")
    credentials: Credentials = Field(default_factory=dict, validate_default=True)
    mail: MailSection = MailSection()
    runbooks_dir: Path = Field(Path("runbooks"), description="folder of runbook YAML files")
    documents_dir: Path = Field(Path("var/documentos"), description="where checklists and reports are written")
    forms_dir: Path | None = Field(None, description="a folder of forms (*.yaml) and labels.es.yaml that replace "
                                   "the shipped ones")
    documents_group_readable: bool = Field(False, description="let the agent user's group read the documents "
                                           "(0640; folders 0750); otherwise only the agent's user (0600/0700)")
    check_groups: list[CheckGroup] = []
    backups: BackupsSection = BackupsSection()
    alerts: AlertsSection = AlertsSection()
    reports: ReportsSection = ReportsSection()
    compliance: CompliancePolicy = CompliancePolicy()
    people: PeopleSection = PeopleSection()
    glpi: GlpiSection = Field(GlpiSection(), description="the helpdesk (GLPI's REST API); off by default")
    renewals: RenewalsSection = Field(RenewalsSection(), description="expiry notices of licences and "
                                      "warranties (S.04.04.01.01_P)")
    schedules: list[ScheduleSpec] = Field([], description="runbooks the daemon starts on a calendar")
    policies: list[PolicySpec] = Field([], description="runbooks the daemon starts when a condition on "
                                       "readings holds")
    power: PowerSection = Field(PowerSection(), description="the staged shutdown on the UPS's budget and the "
                                "gated return (off by default)")
    integrity: IntegritySection = Field(IntegritySection(), description="the key the journals' daily anchors are "
                                        "signed with (optional)")

    # set by load(): the folder relative paths are resolved against
    base_dir: Path = Field(Path("."), exclude=True)

    def path(self, p: Path) -> Path:
        """Resolve a path from the config against the config file's folder."""
        return p if p.is_absolute() else self.base_dir / p

    def credential(self, kind: str, name: str, device: str | None = None):
        """The credential `name` of a transport; a ConfigError naming the device and the known ones if absent."""
        known = getattr(self.credentials, kind, None) or {}
        if name not in known:
            who = f"device {device}: " if device else ""
            raise ConfigError(f"{who}{kind} credential {name!r} is not in the config's credentials.{kind} "
                              f"(known: {', '.join(known) or 'none'})")
        return known[name]

    @field_validator("schedules", "policies")
    @classmethod
    def _unique_names(cls, entries: list):
        dupes = repeated(e.name for e in entries)
        if dupes:
            raise ValueError(f"names must be unique; repeated: {', '.join(dupes)}")
        return entries

    @field_validator("check_groups")
    @classmethod
    def _unique_groups(cls, groups: list[CheckGroup]) -> list[CheckGroup]:
        dupes = repeated(g.name for g in groups)
        if dupes:
            raise ValueError(f"check group names must be unique; repeated: {', '.join(dupes)}")
        return groups


def load(path: Path | str) -> AgentConfig:
    """Read and validate a config file; raise ConfigError listing every problem with its line."""
    return load_located(path)[0]


def load_located(path: Path | str) -> tuple[AgentConfig, dict[tuple, int]]:
    """Like `load`, also returning the line of every YAML path (for the cross-checks of settings)."""
    path = Path(path)
    data, lines, problems = yamlfile.load_located(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(problems + [Problem(str(path), "", 1, "the config must be a YAML mapping")])
    config = None
    try:
        config = AgentConfig.model_validate({**data, "base_dir": path.resolve().parent})
    except ValidationError as err:
        problems += problems_from(err, str(path), lines)
    if config is not None:
        problems += rules.problems(config, str(path), lines)
    if problems:
        raise ConfigError(problems)
    return config, lines
