"""The calendar-sensitive tests pass across a Lima midnight that is also the end of a month.

`make test-dates` runs every test marked `dates` at four such dates; this runs a few of them in the
suite itself, at 23:59:50 Lima on 30 November (04:59:50 UTC on 1 December): the run crosses a day, a
month and the UTC/Lima date boundary while it goes.
"""

from __future__ import annotations

import os
import subprocess

from tests.conftest import REPO
from tests.peers.programs import path


def test_calendar_tests_pass_across_a_lima_midnight_at_the_end_of_a_month():
    env = {**os.environ, "TZ": "UTC", "FAKETIME_DONT_RESET": "1"}
    done = subprocess.run([path("faketime"), "-f", "@2026-12-01 04:59:50", str(REPO / ".venv/bin/pytest"), "-q",
                           "-p", "no:cacheprovider", "tests/test_monthly_report.py", "tests/test_alerts.py",
                           "-k", "monthly or office_hours or policy or daily_checklist"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "failed" not in done.stdout
