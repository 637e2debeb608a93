"""`oti-agent discover HOST`: which SNMP profiles fit a device, why, and the inventory entry to add."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated

import typer

from agent.cli.show import DataTable, esc
from agent.errors import ConfigError


def register(app: typer.Typer) -> None:
    app.command()(discover)


def discover(host: Annotated[str, typer.Argument(help="an inventory device's name, or an address")],
             config: Annotated[str, typer.Option("--config", "-c", help="config file")] = "config.yaml",
             credential: Annotated[str | None, typer.Option(
                 "--credential", help="a key of the config's credentials.snmp (default: the device's, or the "
                                      "only one there is)")] = None,
             port: Annotated[int | None, typer.Option(help="SNMP port (default: the device's, or 161)")] = None,
             ) -> None:
    """Ask a device what it is (sysObjectID, sysDescr), try the profiles that may fit it, and print those that
    answer, why, how many readings each gives, and an inventory snippet. Exit 2 if no profile answers."""
    from pathlib import Path

    from agent.cli import _settings, out

    settings = _settings(Path(config))
    device = _device(settings, host, credential, port)
    import asyncio

    identity, matches, silent, counts = asyncio.run(_discover(settings, device))
    where = f"{device.address}:{device.snmp.port}"
    out.print(esc(f"{device.name} ({where}): sysObjectID {identity.sys_object_id or '—'}, "
                  f"sysDescr «{identity.sys_descr[:100]}»"), highlight=False)
    if matches:
        table = DataTable(title="Profiles that answer")
        for col in ("profile", "readings with a value", "why"):
            table.add_column(col, overflow="fold")
        for m in matches:
            table.add_row(m.profile.profile, str(counts.get(m.profile.profile, 0)), m.reason)
        out.print(table)
    for p, why in silent:
        out.print(esc(f"tried, no answer: {p.profile} ({why})"), highlight=False)
    if not matches:
        out.print("[bold red]no profile answers[/bold red]: check the credential (community, v3 user) and the "
                  "device's SNMP access list; if they are right, the device needs a profile "
                  "(checks/profiles/README: write one from its MIB)")
        raise typer.Exit(2)
    out.print("\ninventory entry (the profiles are detected again at every start; name them with "
              "`profile: [...]` to fix them):")
    out.print(esc(_snippet(device, matches)), highlight=False, soft_wrap=True)


def _device(settings, host: str, credential: str | None, port: int | None):
    """The inventory's device of that name, or a new one at that address; with the credential and port asked."""
    from agent.core.inventory import device_model

    known = settings.inventory.by_name.get(host)
    creds = settings.config.credentials.snmp or {}
    if known is not None and known.snmp is not None:
        access = known.snmp.model_dump(exclude_none=True)
        access.pop("profile", None)          # discover: ask the device, not the inventory
        name, address, kind = known.name, known.address, known.kind
    else:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            if known is None and not re.fullmatch(r"[A-Za-z0-9.-]+", host):
                raise ConfigError(f"discover: {host!r} is neither a device of the inventory nor an address") \
                    from None
        access, name, address = {}, host, known.address if known else host
        kind = known.kind if known else "server_physical"          # a placeholder: the snippet takes the profile's
    if credential is not None:
        access["credential"] = credential
    if "credential" not in access:
        if len(creds) != 1:
            raise ConfigError(f"discover {host}: say which SNMP credential with --credential "
                              f"(the config has: {', '.join(creds) or 'none'})")
        access["credential"] = next(iter(creds))
    settings.config.credential("snmp", access["credential"], name)     # a clear error if it is not there
    if port is not None:
        access["port"] = port
    return device_model().model_validate({"name": name, "address": address, "oti_kind": kind,
                                          "oti_snmp": access})


async def _discover(settings, device):
    from concurrent.futures import ThreadPoolExecutor

    from agent.core import plugins
    from agent.monitoring.once import probe_context

    with ThreadPoolExecutor(2) as pool:
        ctx = probe_context(settings, pool)
        try:
            found = await plugins.check("snmp").discover(device, ctx)
        finally:
            await ctx.aclose()
    return found.identity, found.matches, found.silent, found.counts


def _snippet(device, matches) -> str:
    kinds = [k for m in matches for k in m.profile.kinds]
    kind = kinds[0] if kinds else device.kind
    access = {"credential": device.snmp.credential}
    if device.snmp.port != 161:
        access["port"] = device.snmp.port
    inner = ", ".join(f"{k}: {v}" for k, v in access.items())
    names = ", ".join(m.profile.profile for m in matches)
    return (f"    {device.name}:\n"
            f"      ansible_host: {device.address}\n"
            f"      oti_kind: {kind}\n"
            f"      oti_snmp: {{{inner}}}      # detected: {names}\n")
