#!/usr/bin/env python3
"""Start-up cost of the CLI: CPU-seconds of `oti-agent --help` and `oti-agent config check` against the bare
interpreter (`python -c pass`) and against `python -c "import typer"`, the framework alone, side by side.

usage: .venv/bin/python bench/startup.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OTI = str(REPO / ".venv" / "bin" / "oti-agent")


def cpu_of(args: list[str], repeats: int) -> float:
    """Median CPU-seconds (user + system) of a command's process."""
    runs = []
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        runs.append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
    return sorted(runs)[len(runs) // 2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    bare = cpu_of([sys.executable, "-c", "pass"], args.repeats)
    typer = cpu_of([sys.executable, "-c", "import typer"], args.repeats)
    for name, cmd in (("--help", [OTI, "--help"]), ("config check", [OTI, "config", "check", "-c",
                                                                      str(REPO / "config.example.yaml")])):
        cpu = cpu_of(cmd, args.repeats)
        print(f"oti-agent {name:13} {cpu:.3f} CPU-s   {cpu / bare:5.1f}x python -c pass ({bare:.3f})   "
              f"{cpu / typer:4.1f}x import typer ({typer:.3f})" + ("   goal <= 0.3 CPU-s" if name == "--help" else ""))


if __name__ == "__main__":
    main()
