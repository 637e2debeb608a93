"""Every external program the tests, the demo, the bench and the product start, and where it lives.

`tests/test_install.py` maps each one to the Debian package that owns it (`dpkg -S`) and fails
naming the program when that package is not in the Makefile's DEBS. `tests/conftest.py` records
every program the test session actually starts and fails the session on one not listed here, so a
new peer cannot slip in without its install step. A package someone installed by hand on a
development machine hides nothing: the check reads the Makefile, not what is installed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

PG_BIN = Path("/usr/lib/postgresql/15/bin")

# program -> absolute path where Debian puts it (None: found on PATH)
PROGRAMS: dict[str, str | None] = {
    # Bacula (tests/peers/bacula.py; the product's bacula backend runs bconsole)
    "bacula-dir": "/usr/sbin/bacula-dir",
    "bacula-sd": "/usr/sbin/bacula-sd",
    "bacula-fd": "/usr/sbin/bacula-fd",
    "bconsole": "/usr/sbin/bconsole",
    # SNMP: net-snmp's agent and tools, Debian's snmpsim (also the demo's simulator)
    "snmpd": "/usr/sbin/snmpd",
    "snmpget": "/usr/bin/snmpget",
    "snmptrap": "/usr/bin/snmptrap",
    "logger": "/usr/bin/logger",          # util-linux (bsdutils): the syslog receiver's real sender
    "snmpsimd": "/usr/bin/snmpsimd",
    # OpenSSH
    "sshd": "/usr/sbin/sshd",
    "ssh": "/usr/bin/ssh",
    "ssh-keygen": "/usr/bin/ssh-keygen",
    # IPMI: the simulated BMCs and the product's ipmitool
    "ipmi_sim": "/usr/bin/ipmi_sim",
    "ipmitool": "/usr/bin/ipmitool",
    # Prometheus and friends
    "prometheus": "/usr/bin/prometheus",
    "promtool": "/usr/bin/promtool",
    "prometheus-alertmanager": "/usr/bin/prometheus-alertmanager",
    "prometheus-snmp-exporter": "/usr/bin/prometheus-snmp-exporter",
    # PostgreSQL 15 (the Alfresco database; later the multi-agent store)
    "initdb": str(PG_BIN / "initdb"),
    "pg_ctl": str(PG_BIN / "pg_ctl"),
    "psql": "/usr/bin/psql",
    "pg_dump": "/usr/bin/pg_dump",
    "pg_restore": "/usr/bin/pg_restore",
    # documents: PDF pages and text
    "pdftoppm": "/usr/bin/pdftoppm",
    "pdftotext": "/usr/bin/pdftotext",
    # date-sensitive tests at fixed dates
    "faketime": "/usr/bin/faketime",
    # network namespaces (bench) and the base system (always on Debian, checked all the same)
    "ip": None,
    "xargs": None,
    "runuser": None,
    "useradd": None,
    "usermod": None,
    "chown": None,
    "cp": None,
    "sh": None,
    "bash": None,
    "sha256sum": None,
    "setsid": None,
    "sleep": None,
    "uname": None,                # platform.uname(), asked by a library under pytest-xdist
    "mount": None,                # a small tmpfs: the store's disk filling up
    "umount": None,
    "dpkg": None,                 # tests/test_install.py itself
    "dpkg-query": None,
    # OpenLDAP (tests/peers/slapd.py: the office's directory) and the certificates it shows
    "slapd": "/usr/sbin/slapd",
    "ldapadd": "/usr/bin/ldapadd",
    "openssl": "/usr/bin/openssl",
    # Network UPS Tools: the real upsd and the dummy-ups driver (Debian's /usr/sbin/upsd is a wrapper that
    # reads /etc/nut/nut.conf)
    "upsd": "/lib/nut/upsd",
    "dummy-ups": "/lib/nut/dummy-ups",
    # the web console in a real browser (tests/browser.py): Selenium starts chromedriver, which starts Chromium
    "chromedriver": "/usr/bin/chromedriver",
    "chromium": "/usr/bin/chromium",
    # systemd: the unit file's check (tests/test_unit_file.py) and `oti-agent doctor`'s clock question
    "systemd-analyze": "/usr/bin/systemd-analyze",
    "timedatectl": "/usr/bin/timedatectl",
}

# Programs a library runs when they are there and does without otherwise: ctypes.util.find_library
# (WeasyPrint's Pango, cffi) asks ldconfig, gcc and ld. Declared so the session does not flag them;
# no package is required for them.
OPTIONAL = {"ldconfig", "gcc", "ld"}


def path(name: str) -> str:
    """Return where a declared program is; refuse an undeclared one (declare it above first)."""
    if name not in PROGRAMS:
        raise KeyError(f"program {name!r} is not declared in tests/peers/programs.py")
    where = PROGRAMS[name]
    if where is not None and Path(where).exists():
        return where
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is not installed: run `make deps` (tests/test_install.py names its package)")
    return found


_STARTED: set[str] = set()


def record(argv) -> None:
    """Note the program(s) a Popen call starts (the test session's own bookkeeping)."""
    args = [str(argv)] if isinstance(argv, (str, bytes, Path)) else [str(a) for a in argv]
    while args:
        _STARTED.add(args[0])
        args = _inner(Path(args[0]).name, args)


def started() -> list[str]:
    return sorted(_STARTED)


def merge(names) -> None:
    """Add what another process of the session (an xdist worker) started."""
    _STARTED.update(names)


def _inner(name: str, args: list[str]) -> list[str]:
    """The command line a wrapper starts: runuser -u U -- CMD, ip netns exec NS CMD, faketime T CMD."""
    if name == "runuser" and "--" in args:
        return args[args.index("--") + 1:]
    if name == "ip" and args[1:3] == ["netns", "exec"]:
        return args[4:]
    if name == "faketime":
        rest = [a for a in args[1:] if not a.startswith("-")]
        return rest[1:]
    if name in ("setsid", "env"):
        return [a for a in args[1:] if not a.startswith("-") and "=" not in a]
    return []


def undeclared(own_roots: list[Path]) -> list[str]:
    """Programs the session started that are neither declared above nor the project's own files."""
    out = []
    for prog in sorted(_STARTED):
        p = Path(prog)
        if p.is_absolute() and any(_under(p, root) for root in own_roots):
            continue                          # the venv, the repo, a test's temp folder: ours
        if p.name not in PROGRAMS and p.name not in OPTIONAL:
            out.append(prog)
    return out


def _under(path: Path, root: Path) -> bool:
    return any(p.is_relative_to(root) or p.is_relative_to(root.resolve()) for p in (path, path.resolve()))
