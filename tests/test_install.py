"""Every program the tests, the demo, the bench and the product start comes from a package the Makefile installs.

A package installed by hand on one machine once hid a missing install step (bacula-director): the
suite passed there and failed on every fresh clone. This reads the Makefile's DEBS, not what is
installed, so it fails on any machine, naming the program and the package to add.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.peers.programs import PROGRAMS, path


def _makefile_debs() -> set[str]:
    """The packages of the Makefile's `DEBS :=` (continuation lines joined)."""
    text = (REPO / "Makefile").read_text().replace("\\\n", " ")
    line = next(ln for ln in text.splitlines() if ln.startswith("DEBS"))
    return set(line.split(":=", 1)[1].split())


DEBS = _makefile_debs()


def _owner(program: str) -> str:
    """The Debian package that ships a program (its path as found, resolved, or /usr-merged)."""
    found = Path(path(program))
    candidates = {str(found), str(found.resolve())}
    for c in list(candidates):            # Debian 12 is /usr-merged: dpkg may know /bin/x for /usr/bin/x
        if c.startswith("/usr/"):
            candidates.add(c[4:])
        else:
            candidates.add("/usr" + c)
    for c in sorted(candidates):
        done = subprocess.run(["dpkg", "-S", c], capture_output=True, text=True)
        if done.returncode == 0:
            return done.stdout.split(":")[0].split(",")[0].strip()
    raise AssertionError(f"{program} ({found}) belongs to no Debian package (dpkg -S)")


def _base_system(package: str) -> bool:
    """Essential or required packages are on every Debian system; nothing needs to install them."""
    done = subprocess.run(["dpkg-query", "-W", "-f=${Essential} ${Priority}", package], capture_output=True, text=True)
    return done.stdout.split()[:1] == ["yes"] or "required" in done.stdout.split()


@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_every_program_comes_from_a_package_the_makefile_installs(program):
    package = _owner(program)
    assert package in DEBS or _base_system(package), (
        f"{program} comes from the Debian package {package!r}, which the Makefile's DEBS does not list: "
        f"add it there (a fresh machine does not have it)")


def test_the_makefile_lists_bacula_director_not_only_its_catalog_glue():
    # the fault this test was written for: bacula-director-sqlite3 does not ship bacula-dir
    assert _owner("bacula-dir") == "bacula-director" and "bacula-director" in DEBS
