"""`oti-agent verify --journals [--anchor CHAIN#SEQ:HASH ...]` and `oti-agent anchor-key PATH`: the
hash-chained journals checked, against the store's own anchors and against anchors printed on daily checklists.

`agent/cli/verify.py` owns the command and its options; these functions do the work and print to the text
streams or rich Consoles they are given (`out` for what was found, `err` for why it could not be looked at),
so a test or another command can call them as they are.
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from rich.console import Console

from agent.errors import AgentError

OK, BROKEN, USAGE = 0, 1, 2


def _say(stream: TextIO | Console, line: str) -> None:
    """One line to a text stream or a rich Console (verify.py's), never read as markup: it carries data."""
    if isinstance(stream, Console):
        stream.print(line, markup=False, highlight=False, soft_wrap=True)
    else:
        print(line, file=stream)


def check_journals(settings, anchors: list[str], out: TextIO, err: TextIO) -> int:
    """Walk every chain; print per chain the entries checked, pruned, the head, and OK or its first broken
    entry; return 0 when every chain and anchor holds, 1 when one does not, 2 for an anchor that is not one."""
    from agent.cli.show import reading_store
    from agent.store import chain, chain_verify

    config = settings.config
    try:
        for text in anchors:
            chain.parse_anchor(text)
    except AgentError as e:
        _say(err, f"error: {e}")
        return USAGE
    try:
        store = reading_store(config)
        try:
            reports = chain_verify.walk(store, anchors, config.integrity.public_key)
        finally:
            store.close()
    except AgentError as e:
        _say(err, f"error: {e}")
        return BROKEN
    for r in reports:
        state = "OK" if not r.findings else "BROKEN"
        _say(out, f"{r.chain}: {state}, {r.entries} entries checked ({r.pruned} pruned by retention), {r.rows} rows")
        _say(out, f"  head {chain.anchor_string(r.chain, r.head_seq, r.head_hash)}")      # 80 columns: a line
        for f in r.findings:
            _say(out, f"  {f.message}")
    given = f", {len(anchors)} printed anchor(s) checked" if anchors else ""
    signed = ", signatures checked" if config.integrity.public_key else ""
    broken = sum(1 for r in reports if r.findings)
    _say(out, f"{len(reports) - broken} of {len(reports)} journals intact{given}{signed}")
    return BROKEN if broken else OK


def new_key(path: Path, out: TextIO, err: TextIO) -> int:
    """Write a new Ed25519 key pair (`path` 0600, `path`.pub) and print the config lines that use it."""
    from agent.store import chain_sign

    try:
        public = chain_sign.new_key(path)
    except (AgentError, OSError) as e:
        _say(err, f"error: {e}")
        return BROKEN
    _say(out, f"private key written to {path} (mode 0600: keep it where only the agent's user reads it)")
    _say(out, f"public key written to {path}.pub")
    _say(out, "config:")
    _say(out, "  integrity:")
    _say(out, f'    signing_key: "file:{path}"')
    _say(out, f'    public_key: "{public}"')
    return OK
