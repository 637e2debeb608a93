"""The `integrity:` section: the key the office signs the journals' daily anchors with (optional).

The private key is a secret reference like every other secret of the config (`${ENV_VAR}` or `file:PATH`),
read when an anchor is signed and never logged; the public key is not a secret (base64 of its 32 bytes, as
`oti-agent anchor-key PATH` prints it) and is what `oti-agent verify --journals` checks signatures
with — on a machine that may hold no private key at all.
"""

from __future__ import annotations

import base64
import binascii

from pydantic import Field, field_validator

from agent.core.config_daemon import _Model
from agent.core.secrets import SecretRef


class IntegritySection(_Model):
    """Who signs the daily anchors of the hash-chained journals, and how a signature is checked."""

    signing_key: SecretRef | None = Field(None, description="an Ed25519 private key (PEM), e.g. "
                                          "\"file:secrets/anclas.key\"; anchors are unsigned without it")
    public_key: str | None = Field(None, description="its public key (base64); with it, `verify --journals` "
                                   "checks every stored anchor's signature")

    @field_validator("public_key")
    @classmethod
    def _public(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            raw = base64.b64decode(value, validate=True)
        except binascii.Error:
            raw = b""
        if len(raw) != 32:
            raise ValueError("an Ed25519 public key is base64 of 32 bytes, as `oti-agent anchor-key` prints it")
        return value
