"""Secret references: `${ENV_VAR}` or `file:/path`, resolved late and never shown.

A config holds only the reference. `resolve()` reads the value when a probe needs it; the
value lives in a `SecretStr`, whose repr and str are redacted, so a log line, an exception or
a metric that carries it by accident shows `**********`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, SecretStr

from agent.errors import ConfigError

_ENV = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_RESOLVED: set[str] = set()   # values handed out, so logs can blank them if one slips into a message
REDACTED = "**********"


def _check_reference(ref: str) -> str:
    if _ENV.match(ref) or (ref.startswith("file:") and len(ref) > 5):
        return ref
    raise ValueError("a secret must be a reference: '${ENV_VAR}' or 'file:/path/to/secret', not a literal value")


SecretRef = Annotated[str, AfterValidator(_check_reference)]
"""A config field holding a reference to a secret, validated at load time."""


def resolve(ref: str, *, base_dir: Path | None = None) -> SecretStr:
    """Return the secret a reference points to; raise ConfigError naming the reference, not the value."""
    match = _ENV.match(ref)
    if match:
        name = match.group(1)
        if name not in os.environ:
            raise ConfigError(f"secret reference {ref}: environment variable {name} is not set")
        return _remember(os.environ[name])
    if ref.startswith("file:"):
        path = Path(ref[5:])
        if base_dir is not None and not path.is_absolute():
            path = base_dir / path
        try:
            return _remember(path.read_text(encoding="utf-8").rstrip("\r\n"))
        except OSError as err:
            raise ConfigError(f"secret reference {ref}: cannot read {path}: {err.strerror}") from None
    raise ConfigError(f"secret reference {ref!r} is neither ${{ENV_VAR}} nor file:PATH")


def _remember(value: str) -> SecretStr:
    if len(value) >= 4:          # blanking 1-3 character strings would mangle ordinary text
        _RESOLVED.add(value)
    return SecretStr(value)


def redact(text: str) -> str:
    """Replace every secret value this process has resolved by asterisks."""
    for value in _RESOLVED:
        if value in text:
            text = text.replace(value, REDACTED)
    return text
