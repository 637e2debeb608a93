"""Ed25519 signatures over the daily anchors, with a key the office holds (config `integrity:`).

A signature says that whoever held the private key saw these heads on that day. It lets an auditor check
the anchors stored in the database (and mailed ones) without trusting the database: someone who rewrites
a chain and its anchors with SQL cannot sign the new ones. It does not prove that what was chained was
true, nor anything about a key that leaked: the key is read from its secret reference when an anchor is
signed, never logged, and written 0600 by `new_key`.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from agent.core.secrets import resolve
from agent.errors import ConfigError


def message(day: str, chain: str, seq: int, hash_: str) -> bytes:
    """What is signed: the anchor and what it is (so a signature cannot be moved to another day or chain)."""
    return f"oti-agent anchor v1|{day}|{chain}|{seq}|{hash_}".encode()


class Signer:
    """Sign anchors with the office's private key."""

    def __init__(self, key: Ed25519PrivateKey):
        self._key = key

    def __repr__(self) -> str:
        return "Signer(**********)"

    @classmethod
    def from_reference(cls, ref: str, base_dir: Path | None = None) -> Signer:
        """The signer a secret reference (`file:...` or `${ENV}`) names: a PKCS#8 PEM Ed25519 private key."""
        text = resolve(ref, base_dir=base_dir).get_secret_value()
        try:
            key = serialization.load_pem_private_key(text.encode() + b"\n", password=None)
        except (ValueError, TypeError):
            raise ConfigError(f"integrity.signing_key {ref}: not an unencrypted PEM private key; make one with "
                              "`oti-agent anchor-key PATH`") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigError(f"integrity.signing_key {ref}: not an Ed25519 key")
        return cls(key)

    def sign_anchor(self, day: str, chain: str, seq: int, hash_: str) -> str:
        """The base64 signature of one anchor."""
        return base64.b64encode(self._key.sign(message(day, chain, seq, hash_))).decode()

    def public_key(self) -> str:
        """The public key as the config's `integrity.public_key` takes it (base64 of the 32 raw bytes)."""
        return public_text(self._key.public_key())


def public_text(key: Ed25519PublicKey) -> str:
    return base64.b64encode(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode()


def public_key(text: str) -> Ed25519PublicKey:
    """The public key of `integrity.public_key` (base64 of 32 raw bytes); a ConfigError when it is not one."""
    try:
        raw = base64.b64decode(text, validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError):
        raise ConfigError("integrity.public_key: not an Ed25519 public key (base64 of 32 bytes, as "
                          "`oti-agent anchor-key` prints it)") from None


def valid(key: Ed25519PublicKey, anchor: dict) -> bool:
    """Whether a stored anchor's signature is the key's over that very anchor."""
    if not anchor.get("signature"):
        return False
    try:
        key.verify(base64.b64decode(anchor["signature"], validate=True),
                   message(anchor["day"], anchor["chain"], anchor["seq"], anchor["hash"]))
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def signer_for(integrity, base_dir: Path | None = None) -> Signer | None:
    """The signer the config's `integrity:` section names, or None when anchors are not signed."""
    if integrity is None or not integrity.signing_key:
        return None
    return Signer.from_reference(integrity.signing_key, base_dir)


def new_key(path: Path) -> str:
    """Write a new private key to `path` (0600, refusing to overwrite) and its public key to `path`.pub; return
    the public key's text for the config."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(f"{path} exists: a key is never overwritten (move it away first)") from None
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    public = public_text(key.public_key())
    pub = path.with_name(path.name + ".pub")
    pub.write_text(public + "\n", encoding="utf-8")
    pub.chmod(0o644)
    return public
