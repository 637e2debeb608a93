"""The `glpi:` section: the office's helpdesk (S.04.04.02_P, Mesa de ayuda) reached through GLPI's REST API.

Off by default. The tokens are secret references like every other secret of the config (`${ENV_VAR}`
or `file:PATH`), resolved when a session is opened and never logged. A ticket category of GLPI
(`itilcategories_id`) may name the runbook that attends it (activity 10: "Deriva para atención según
categoría de ticket"): the poller starts it once per new ticket.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from agent.core import config_rules as rules
from agent.core.config_daemon import Duration, _Model
from agent.core.secrets import SecretRef


class CategoryRunbook(_Model):
    """The runbook a ticket category starts, with the parameters it gets from the ticket."""

    runbook: str = Field(description="runbook id (runbooks_dir/<id>.yaml)")
    params: dict[str, str] = Field({}, description="more parameters, templates over the ticket: "
                                   "\"{{ ticket.name }}\", \"{{ ticket.content }}\"; `ticket` and `glpi` are set")


class GlpiSection(_Model):
    """Where GLPI is, how the agent logs in, and which categories its tickets go to."""

    enabled: bool = False
    url: str | None = Field(None, pattern=r"^https?://",
                            description="GLPI's REST API, e.g. https://helpdesk.entidad.gob.pe/apirest.php")
    app_token: SecretRef | None = Field(None, description="the API client's App-Token (Setup > General > API)")
    user_token: SecretRef | None = Field(None, description="the agent's user's API token (its preferences: "
                                         "'Remote access keys')")
    verify_tls: bool = True
    ca_file: str | None = Field(None, description="a CA bundle for a GLPI with the office's own certificate")
    timeout: Duration = 20.0
    max_attempts: int = Field(6, ge=1, le=100, description="a call refused for a reason of its own is given up "
                              "after this many tries (GLPI down: it waits, without counting)")
    alert_category: int | None = Field(None, description="itilcategories_id of tickets for alerts escalated to "
                                       "a vendor")
    categories: dict[int, CategoryRunbook] = Field({}, description="itilcategories_id -> the runbook that "
                                                    "attends a new ticket of that category")
    poll_every: Duration = Field(60.0, description="how often new tickets of those categories are looked for")

    @field_validator("url")
    @classmethod
    def _no_userinfo(cls, value: str | None) -> str | None:
        if value is not None and value.startswith("http://") and \
                urlsplit(value).hostname not in ("127.0.0.1", "::1", "localhost"):
            raise ValueError("plain http would carry GLPI's tokens in clear over the network: use https:// "
                             "(with ca_file for the office's own certificate); http only to this host")
        return rules.no_userinfo(value, "glpi.user_token")

    @model_validator(mode="after")
    def _complete(self):
        if self.enabled and (self.url is None or self.user_token is None):
            raise ValueError("glpi.enabled needs url and user_token (and app_token if GLPI's API client asks "
                             "for one)")
        return self
