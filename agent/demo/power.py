"""`oti-agent demo --power-failure`: the mains fail on the simulated datacenter, and come back.

A thread plays the mains: after a while the UPS's SNMP community points at the recording of the same UPS
on battery (9 min left); the daemon's power policy does the rest — the jefa is mailed, the staged shutdown
starts on the budget, she may cancel it within its window, GG is told afterwards. Once the shutdown has
ended the mains come back; when they have been stable and the battery charged, the startup asks the jefa
in the console. The thread only flips the community and reads the policy's state, as a person watching."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from rich.console import Console

ROUNDS = 7200                      # at most two hours of watching, one look per second


def play(workdir: Path, settings, after_s: float, console: Console) -> threading.Thread:
    """Start the mains' script in the background; return its thread."""
    from agent.demo import ON_BATTERY
    from agent.store import Store, queries

    community = workdir / "secrets" / "ups-principal.community"
    store = Store.for_config(settings.config)

    def state() -> str:
        row = queries.power_state_rows(store).get("ups-principal")
        return row["state"] if row else "normal"

    def script() -> None:
        time.sleep(after_s)
        community.write_text(ON_BATTERY + "\n")
        console.print("[bold red]demo: corte de energía[/bold red] — la UPS ups-principal pasa a batería; "
                      "mire la página Estado de la consola y el correo de la jefa")
        for _ in range(ROUNDS):
            if state() == "waiting_for_mains":
                break
            time.sleep(1)
        time.sleep(5)
        community.write_text("ups-principal\n")
        console.print("[bold green]demo: vuelve la energía comercial[/bold green] — cuando se mantenga 15 s, el "
                      "encendido pide la confirmación de la jefa (mparedes) en la consola")

    thread = threading.Thread(target=script, name="demo-power", daemon=True)
    thread.start()
    return thread
