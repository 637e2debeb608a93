"""Secret references: `${ENV_VAR}` or `file:/path`, resolved late and never shown.

A config holds only the reference. `resolve()` reads the value when a probe needs it; the
value lives in a `SecretStr`, whose repr and str are redacted, so a log line, an exception or
a metric that carries it by accident shows `**********`. A validated reference is a
`SecretReference`, so `references()` finds every one in a loaded config (`config check` resolves
them all, naming each reference that fails, never its value).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, SecretStr

from agent.errors import ConfigError

_ENV = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_RESOLVED: set[str] = set()   # values handed out, so logs can blank them if one slips into a message
REDACTED = "**********"
# scheme://user[:password]@ at the start of a URL's authority (an '@' later in the path is not userinfo)
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s'\"<>]*@")


class SecretReference(str):
    """A validated reference (`${ENV_VAR}` or `file:PATH`): a str, of its own type so it can be found."""


def _check_reference(ref: str) -> str:
    if _ENV.match(ref) or (ref.startswith("file:") and len(ref) > 5):
        return SecretReference(ref)
    raise ValueError("a secret must be a reference: '${ENV_VAR}' or 'file:/path/to/secret', not a literal value")


SecretRef = Annotated[str, AfterValidator(_check_reference)]
"""A config field holding a reference to a secret, validated at load time."""


def resolve(ref: str, *, base_dir: Path | None = None) -> SecretStr:
    """Return the secret a reference points to; raise ConfigError naming the reference, not the value."""
    return _remember(_read(ref, base_dir))


def unresolvable(ref: str, *, base_dir: Path | None = None) -> str | None:
    """Why a reference cannot be resolved now (unset, unreadable, empty), or None; the value is read and
    dropped, never kept nor shown."""
    try:
        value = _read(ref, base_dir)
    except ConfigError as err:
        return str(err)
    return None if value else f"secret reference {ref}: the secret is empty"


def _read(ref: str, base_dir: Path | None) -> str:
    match = _ENV.match(ref)
    if match:
        name = match.group(1)
        if name not in os.environ:
            raise ConfigError(f"secret reference {ref}: environment variable {name} is not set")
        return os.environ[name]
    if ref.startswith("file:"):
        path = Path(ref[5:])
        if base_dir is not None and not path.is_absolute():
            path = base_dir / path
        try:
            return path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as err:
            raise ConfigError(f"secret reference {ref}: cannot read {path}: {err.strerror}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"secret reference {ref}: {path} is not UTF-8 text") from None
    raise ConfigError(f"secret reference {ref!r} is neither ${{ENV_VAR}} nor file:PATH")


def references(value: Any, path: tuple = ()) -> Iterator[tuple[tuple, SecretReference]]:
    """Every secret reference in a validated model (or dict, list), with its YAML path."""
    if isinstance(value, SecretReference):
        yield path, value
    elif isinstance(value, BaseModel):
        for name, info in type(value).model_fields.items():
            yield from references(getattr(value, name), path + (info.alias or name,))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from references(item, path + (key,))
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from references(item, path + (i,))


def without_userinfo(text: str) -> str:
    """`text` with the `user:password@` of every URL in it removed: for any log line or message that
    shows a URL (an Alertmanager's, a store's, one in a library's error)."""
    return _USERINFO.sub(r"\1", text)


def _remember(value: str) -> SecretStr:
    if len(value) >= 4:          # blanking 1-3 character strings would mangle ordinary text
        _RESOLVED.add(value)
    return SecretStr(value)


def library_text(err: BaseException | str) -> str:
    """A library's own words about a failure, safe to show: a URL's userinfo removed, and any secret this
    process resolved blanked — what a transport puts in its error (paramiko's, an SMTP server's...)."""
    return redact(without_userinfo(str(err)))


def redact(text: str) -> str:
    """Replace every secret value this process has resolved by asterisks (only in texts that may carry one:
    library errors, a crash report; not in every log line, where a community named like its device would
    blank the device's name)."""
    for value in _RESOLVED:
        if value in text:
            text = text.replace(value, REDACTED)
    return text
