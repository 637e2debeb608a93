"""Runbooks the daemon starts by itself: the `schedules:` and `policies:` models, the calendar (cron and the
manual's wording, Peru's holidays, month ends), ScheduleKeeper on a real SQLite store, and PolicyWatcher
fed CheckResults built by hand. Every time is given: no test reads today's date."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import yaml
from pydantic import ValidationError

from agent.core.automation import PolicySpec, ScheduleSpec, parse_cron
from agent.errors import ConfigError, RunbookError
from agent.runbook import schedules
from agent.runbook.schedules import ScheduleKeeper, next_due, plan
from agent.store import Store, queries

LIMA = ZoneInfo("America/Lima")


def lima(*args) -> datetime:
    return datetime(*args, tzinfo=LIMA)


def schedule(text: str) -> ScheduleSpec:
    return ScheduleSpec.model_validate(yaml.safe_load(text))


def policy(text: str) -> PolicySpec:
    return PolicySpec.model_validate(yaml.safe_load(text))


# ---------------------------------------------------------------------- the models
def test_a_schedule_and_a_policy_read_from_yaml():
    s = schedule("""
        name: respaldo-nocturno
        runbook: backup_check
        params: {scope: todo, retries: 2}
        when: "L M X J V 07:30"
        misfire: 30m
    """)
    assert (s.when, s.misfire, s.holidays, s.overlap) == ("L M X J V 07:30", 1800.0, "skip", "skip")
    assert s.enabled and s.params == {"scope": "todo", "retries": 2}
    p = policy("""
        name: ups-en-bateria
        runbook: apagado_ordenado
        params: {motivo: "{{ reason }}", equipo: "{{ device }}", forzar: true}
        devices: {kinds: [ups]}
        condition: {reading: ups_output_source, equals: battery}
        for: 5m
        emergency:
          approvals:
            aprobar_jefa: {expire_after: 15m, on_expiry: escalate, escalate_to: gg}
            aprobar_gg: {expire_after: 10m, on_expiry: approve}
          skip_approvals: [avisar_com]
    """)
    assert (p.for_, p.clear_after, p.condition.equals) == (300.0, 300.0, "battery")
    assert p.emergency.approvals["aprobar_jefa"].escalate_to == "gg"
    assert p.emergency.skip_approvals == ["avisar_com"]


@pytest.mark.parametrize("text, words", [
    ("{name: s, runbook: r, cron: '0 2 * * *', when: 'diario 02:00'}",
     ["'s'", "exactly one of cron, when, at", "cron, when"]),
    ("{name: s, runbook: r}", ["'s'", "exactly one of cron, when, at", "none"]),
    ("{name: s, runbook: r, when: 'diario 02:00', at: '2026-12-08 22:00'}", ["when, at"]),
    ("{name: s, runbook: r, cron: '61 * * * *'}", ["cron\n", "schedule 's'", "minute field: 61 is out of"]),
    ("{name: s, runbook: r, cron: '0 2 * *'}", ["cron\n", "needs five fields"]),
    ("{name: s, runbook: r, cron: '*/0 * * * *'}", ["cron\n", "step '0'"]),
    ("{name: s, runbook: r, cron: '0 2 * * vie-lun'}", ["day-of-week field: range 'vie-lun' goes backwards"]),
    ("{name: s, runbook: r, cron: '0 2 * * funday'}", ["day-of-week field: 'funday' is not a number"]),
    ("{name: s, runbook: r, cron: '0 0 30 2 *'}", ["never happens"]),
    ("{name: s, runbook: r, when: 'todos los dias 02:00'}", ["when\n", "is not a periodicity"]),
    ("{name: s, runbook: r, when: 'diario'}", ["when\n", "HH:MM"]),
    ("{name: s, runbook: r, when: 'mensual 31 08:00'}", ["1..28", "mensual último"]),
    ("{name: s, runbook: r, at: 'el lunes'}", ["at\n", "YYYY-MM-DD HH:MM"]),
    ("{name: s, runbook: r, when: 'diario 02:00', misfire: pronto}", ["misfire", "not a duration"]),
    ("{name: s, runbook: r, when: 'diario 02:00', overlap: allow}", ["overlap"]),
    ("{name: s, runbook: r, when: 'diario 02:00', params: {x: '{{ device }}'}}", ["params", "literal"]),
])
def test_a_bad_schedule_is_refused_naming_the_field(text, words):
    with pytest.raises(ValidationError) as err:
        schedule(text)
    for word in words:
        assert word in str(err.value)


_POLICY = "{name: p, runbook: r, condition: {reading: ups_output_source, equals: battery}, "


@pytest.mark.parametrize("text, words", [
    (_POLICY + "emergency: {approvals: {aprobar_jefa: {expire_after: 15m, on_expiry: escalate}}}}",
     ["emergency.approvals.aprobar_jefa", "escalate_to"]),
    (_POLICY + "emergency: {approvals: {a: {expire_after: 15m, on_expiry: reject, escalate_to: gg}}}}",
     ["escalate_to is only for on_expiry: escalate"]),
    (_POLICY + "emergency: {approvals: {a: {expire_after: 15m, on_expiry: approve}}, skip_approvals: [a]}}",
     ["skip_approvals", "also in approvals"]),
    (_POLICY + "emergency: {approvals: {a: {expire_after: 15m, on_expiry: maybe}}}}", ["on_expiry"]),
    (_POLICY + "params: {host: '{{ device.name }'}}", ["params", "policy 'p'", "does not parse"]),
    (_POLICY + "params: {host: '{{ host }}'}}", ["params.host", "names host", "device, reading, value"]),
    (_POLICY + "clear_after: 0}", ["clear_after"]),
    (_POLICY + "devices: {kinds: [toaster]}}", ["devices.kinds"]),
    ("{name: p, runbook: r, condition: {reading: x, below: 5, above: 9}}", ["exactly one of", "below, abo"]),
    ("{name: p, runbook: r, condition: {reading: x}}", ["exactly one of", "none"]),
    ("{name: p, runbook: r, condition: {reading: x, state: ROJO}}", ["condition.state"]),
])
def test_a_bad_policy_is_refused_naming_the_field(text, words):
    with pytest.raises(ValidationError) as err:
        policy(text)
    for word in words:
        assert word in str(err.value)


def test_cron_fields_read_ranges_lists_steps_and_names():
    cal = parse_cron("*/15 8-10,17 * * lun-vie")
    assert cal.times[:5] == ((8, 0), (8, 15), (8, 30), (8, 45), (9, 0)) and (17, 45) in cal.times
    assert cal.weekdays == frozenset({0, 1, 2, 3, 4}) and cal.days is None
    assert parse_cron("0 9 * * 0") == parse_cron("0 9 * * 7") == parse_cron("0 9 * * dom") \
        == parse_cron("0 9 * * sun")
    assert parse_cron("0 9 1 ene,jul *").months == frozenset({1, 7})
    assert parse_cron("0/20 0 * * *").times == ((0, 0), (0, 20), (0, 40))
    assert parse_cron("0 0/20 * * *").times == ((0, 0), (20, 0))


# ---------------------------------------------------------------------- next_due
@pytest.mark.parametrize("spec, after, due", [
    # Inmaculada Concepción (8) and Batalla de Ayacucho (9 December) are holidays: the 10th
    ("cron: '0 2 * * *'", lima(2026, 12, 7, 3, 0), lima(2026, 12, 10, 2, 0)),
    ("{cron: '0 2 * * *', holidays: allow}", lima(2026, 12, 7, 3, 0), lima(2026, 12, 8, 2, 0)),
    ("when: 'diario 02:00'", lima(2026, 12, 7, 1, 59), lima(2026, 12, 7, 2, 0)),
    ("when: 'diario 02:00'", lima(2026, 12, 7, 2, 0), lima(2026, 12, 10, 2, 0)),        # strictly after
    ("when: 'L M X J V 07:30'", lima(2026, 12, 23, 8, 0), lima(2026, 12, 24, 7, 30)),
    ("when: 'L M X J V 07:30'", lima(2026, 12, 24, 8, 0), lima(2026, 12, 28, 7, 30)),   # Navidad, weekend
    ("when: 'lunes, jueves 22:00'", lima(2027, 3, 22, 23, 0), lima(2027, 3, 29, 22, 0)),  # Holy Thursday
    ("when: 'lunes, jueves 22:00'", lima(2027, 3, 18, 21, 0), lima(2027, 3, 18, 22, 0)),
    ("when: 'mensual 1 08:00'", lima(2026, 12, 31, 9, 0), lima(2027, 2, 1, 8, 0)),      # 1 January
    ("when: 'mensual 15 08:00'", lima(2026, 1, 15, 8, 0), lima(2026, 2, 15, 8, 0)),
    ("when: 'semanal sabado 03:00'", lima(2026, 3, 1, 0, 0), lima(2026, 3, 7, 3, 0)),
    ("when: 'quincenal 06:00'", lima(2026, 3, 2, 0, 0), lima(2026, 3, 16, 6, 0)),
    ("when: 'diario 08:00 20:00'", lima(2026, 3, 2, 9, 0), lima(2026, 3, 2, 20, 0)),
    # month ends
    ("cron: '0 8 31 * *'", lima(2026, 1, 31, 9, 0), lima(2026, 3, 31, 8, 0)),
    ("when: 'mensual último 23:00'", lima(2026, 1, 31, 23, 30), lima(2026, 2, 28, 23, 0)),
    ("when: 'mensual ultimo 23:00'", lima(2028, 2, 1, 0, 0), lima(2028, 2, 29, 23, 0)),
    ("when: 'fin de mes 23:00'", lima(2026, 4, 1, 0, 0), lima(2026, 4, 30, 23, 0)),
    ("{cron: '0 0 29 2 *', holidays: allow}", lima(2026, 3, 1, 0, 0), lima(2028, 2, 29, 0, 0)),
    # cron: both day fields restricted means either (13th or a Friday)
    ("cron: '0 9 13 * 5'", lima(2026, 3, 10, 0, 0), lima(2026, 3, 13, 9, 0)),
    ("cron: '0 9 13 * 5'", lima(2026, 3, 13, 10, 0), lima(2026, 3, 20, 9, 0)),
    ("cron: '*/15 8-17 * * lun-vie'", lima(2026, 3, 6, 17, 50), lima(2026, 3, 9, 8, 0)),
    ("cron: '0 12 * * *'", datetime(2026, 3, 2, 16, 0, tzinfo=UTC), lima(2026, 3, 2, 12, 0)),  # 11:00 in Lima
])
def test_next_due(spec, after, due):
    s = schedule(f"{{name: s, runbook: r, {spec.strip('{}')}}}")
    got = next_due(s, after, LIMA)
    assert got == due and got.utcoffset() == due.utcoffset()


def test_a_one_shot_is_due_once_on_its_date_even_a_holiday():
    s = schedule("{name: apagado, runbook: apagado, at: '2026-12-08 22:00'}")
    assert next_due(s, lima(2026, 12, 1), LIMA) == lima(2026, 12, 8, 22, 0)
    assert next_due(s, lima(2026, 12, 8, 22, 0), LIMA) is None
    aware = schedule("{name: a, runbook: r, at: '2026-12-08T22:00:00-05:00'}")
    assert next_due(aware, lima(2026, 12, 1), LIMA) == lima(2026, 12, 8, 22, 0)


def test_wall_times_in_a_zone_with_daylight_saving():
    ny = ZoneInfo("America/New_York")        # Lima has none; the arithmetic is the same
    s = schedule("{name: s, runbook: r, cron: '30 1,2 * * *', holidays: allow}")
    spring = list(schedules.occurrences(s, ny, datetime(2026, 3, 8, 0, 0, tzinfo=ny)))[:3]
    # 02:30 does not exist on 8 March 2026: it runs at the instant an hour after 01:30
    assert [w.timestamp() - spring[0].timestamp() for w in spring] == [0, 3600, 86400 - 3600]
    autumn = list(schedules.occurrences(s, ny, datetime(2026, 11, 1, 0, 0, tzinfo=ny)))[:3]
    # 01:30 happens twice on 1 November 2026: it runs once, at the first
    assert autumn[0].utcoffset() == timedelta(hours=-4)
    assert autumn[1].timestamp() - autumn[0].timestamp() == 2 * 3600


def test_plan_records_missed_ones_and_starts_only_the_latest_within_misfire():
    s = schedule("{name: s, runbook: r, cron: '0 * * * *', holidays: allow}")
    got = plan(s, LIMA, lima(2026, 3, 2, 10, 0), lima(2026, 3, 2, 13, 30))
    assert got == [(lima(2026, 3, 2, 11), "missed"), (lima(2026, 3, 2, 12), "missed"),
                   (lima(2026, 3, 2, 13), "due")]
    tight = schedule("{name: s, runbook: r, cron: '0 * * * *', holidays: allow, misfire: 20m}")
    got = plan(tight, LIMA, lima(2026, 3, 2, 10, 0), lima(2026, 3, 2, 13, 30))
    assert [v for _, v in got] == ["missed"] * 3
    assert plan(s, LIMA, None, lima(2026, 3, 2, 13, 30)) == [(lima(2026, 3, 2, 13), "due")]
    assert plan(s, LIMA, None, lima(2026, 3, 2, 12, 0, 0)) == [(lima(2026, 3, 2, 12), "due")]
    holiday = schedule("{name: s, runbook: r, when: 'diario 02:00'}")
    assert plan(holiday, LIMA, lima(2026, 12, 7, 2), lima(2026, 12, 10, 2, 30)) == [
        (lima(2026, 12, 8, 2), "skipped_holiday"), (lima(2026, 12, 9, 2), "skipped_holiday"),
        (lima(2026, 12, 10, 2), "due")]


def test_plan_never_floods_after_a_long_absence():
    s = schedule("{name: s, runbook: r, cron: '* * * * *', holidays: allow}")
    got = plan(s, LIMA, lima(2025, 1, 1), lima(2026, 3, 2, 12, 0))
    assert len(got) == schedules.MAX_RECORDED and [v for _, v in got].count("due") == 1
    assert got[-1] == (lima(2026, 3, 2, 12, 0), "due")


# ---------------------------------------------------------------------- ScheduleKeeper on a store
class Starter:
    """start_run and is_active for a keeper: runs are numbered; `active` holds those still going."""

    def __init__(self, fail: Exception | None = None):
        self.calls: list[tuple[str, datetime]] = []
        self.active: set[str] = set()
        self.fail = fail

    def start(self, spec: ScheduleSpec, due: datetime) -> str:
        if self.fail:
            raise self.fail
        self.calls.append((spec.name, due))
        run_id = f"run-{len(self.calls)}"
        self.active.add(run_id)
        return run_id

    def is_active(self, run_id: str) -> bool:
        return run_id in self.active


@pytest.fixture
def store(tmp_path):
    s = Store("sqlite:///var/oti.db", tmp_path)
    yield s
    s.close()


def keeper(store, starter: Starter, *specs: str) -> ScheduleKeeper:
    return ScheduleKeeper([schedule(t) for t in specs], LIMA, store, starter.start, starter.is_active)


HOURLY = "{name: cada-hora, runbook: r, cron: '0 * * * *', holidays: allow}"


def test_an_occurrence_starts_once_however_often_the_keeper_ticks(store):
    starter = Starter()
    k = keeper(store, starter, HOURLY)
    assert k.tick(lima(2026, 3, 2, 9, 59)) == [("cada-hora", lima(2026, 3, 2, 9), "started")]
    assert k.tick(lima(2026, 3, 2, 9, 59)) == []
    starter.active.clear()
    assert k.tick(lima(2026, 3, 2, 10, 0, 30)) == [("cada-hora", lima(2026, 3, 2, 10), "started")]
    assert starter.calls == [("cada-hora", lima(2026, 3, 2, 9)), ("cada-hora", lima(2026, 3, 2, 10))]
    rows = queries.schedule_run_rows(store, "cada-hora")
    assert [(r["due_at"], r["outcome"], r["run_id"]) for r in rows] == [
        (lima(2026, 3, 2, 10), "started", "run-2"), (lima(2026, 3, 2, 9), "started", "run-1")]


def test_two_keepers_on_one_store_start_an_occurrence_once(store, tmp_path):
    starter = Starter()
    other_store = Store("sqlite:///var/oti.db", tmp_path)       # a second daemon, its own connections
    a, b = keeper(store, starter, HOURLY), keeper(other_store, starter, HOURLY)
    b.last_seen = lambda name: None          # b read the table before a wrote: the insert still decides
    assert a.tick(lima(2026, 3, 2, 10, 5)) == [("cada-hora", lima(2026, 3, 2, 10), "started")]
    assert b.tick(lima(2026, 3, 2, 10, 5)) == []
    assert keeper(other_store, starter, HOURLY).tick(lima(2026, 3, 2, 10, 6)) == []
    assert len(starter.calls) == 1
    other_store.close()


def test_overlap_is_skipped_while_the_previous_run_is_active(store):
    starter = Starter()
    k = keeper(store, starter, HOURLY)
    k.tick(lima(2026, 3, 2, 10, 0))
    assert k.tick(lima(2026, 3, 2, 11, 0)) == [("cada-hora", lima(2026, 3, 2, 11), "skipped_overlap")]
    assert k.tick(lima(2026, 3, 2, 12, 0)) == [("cada-hora", lima(2026, 3, 2, 12), "skipped_overlap")]
    starter.active.clear()                   # run-1 ended
    assert k.tick(lima(2026, 3, 2, 13, 0)) == [("cada-hora", lima(2026, 3, 2, 13), "started")]
    assert len(starter.calls) == 2


def test_a_daemon_down_three_hours_records_the_missed_and_starts_the_latest(store):
    starter = Starter()
    keeper(store, starter, HOURLY).tick(lima(2026, 3, 2, 10, 0))
    starter.active.clear()
    restarted = keeper(store, starter, HOURLY)            # the daemon comes back at 13:30
    assert restarted.tick(lima(2026, 3, 2, 13, 30)) == [
        ("cada-hora", lima(2026, 3, 2, 11), "missed"), ("cada-hora", lima(2026, 3, 2, 12), "missed"),
        ("cada-hora", lima(2026, 3, 2, 13), "started")]
    assert starter.calls[-1] == ("cada-hora", lima(2026, 3, 2, 13)) and len(starter.calls) == 2


def test_a_first_tick_looks_back_only_misfire(store):
    starter = Starter()
    daily = "{name: diario, runbook: r, when: 'diario 02:00'}"
    assert keeper(store, starter, daily).tick(lima(2026, 3, 2, 4, 0)) == []      # 02:00 was 2 h ago
    assert keeper(store, starter, daily).tick(lima(2026, 3, 3, 2, 30)) == [("diario", lima(2026, 3, 3, 2),
                                                                              "started")]


def test_a_holiday_occurrence_is_recorded_as_skipped(store):
    starter = Starter()
    k = keeper(store, starter, "{name: diario, runbook: r, when: 'diario 02:00'}")
    assert k.tick(lima(2026, 12, 8, 2, 1)) == [("diario", lima(2026, 12, 8, 2), "skipped_holiday")]
    assert starter.calls == []


def test_a_start_that_fails_is_recorded_with_its_message_and_not_retried(store):
    starter = Starter(fail=RunbookError("runbook r: no existe en runbooks/"))
    k = keeper(store, starter, HOURLY)
    assert k.tick(lima(2026, 3, 2, 10, 0)) == [("cada-hora", lima(2026, 3, 2, 10), "failed")]
    assert k.errors[("cada-hora", lima(2026, 3, 2, 10))] == "runbook r: no existe en runbooks/"
    assert k.tick(lima(2026, 3, 2, 10, 1)) == []
    assert queries.schedule_run_rows(store)[0]["outcome"] == "failed"
    none = ScheduleKeeper([schedule(HOURLY)], LIMA, store, lambda spec, due: None, lambda run: False)
    assert none.tick(lima(2026, 3, 2, 11, 0)) == [("cada-hora", lima(2026, 3, 2, 11), "failed")]


def test_the_one_shot_at_starts_at_its_date_once(store):
    starter = Starter()
    shutdown = "{name: apagado-aprobado, runbook: apagado, at: '2026-12-08 22:00', params: {motivo: obra}}"
    k = keeper(store, starter, shutdown)
    assert k.tick(lima(2026, 12, 8, 21, 59)) == []
    assert k.tick(lima(2026, 12, 8, 22, 0)) == [("apagado-aprobado", lima(2026, 12, 8, 22), "started")]
    assert k.tick(lima(2026, 12, 9, 22, 0)) == [] and len(starter.calls) == 1
    late = keeper(store, starter, "{name: tarde, runbook: r, at: '2026-12-01 08:00'}")
    assert late.tick(lima(2026, 12, 8, 22, 0)) == [("tarde", lima(2026, 12, 1, 8), "missed")]


def test_a_disabled_schedule_starts_nothing_and_names_are_unique(store):
    starter = Starter()
    assert keeper(store, starter, "{name: s, runbook: r, cron: '* * * * *', enabled: false}").tick(
        lima(2026, 3, 2, 10)) == []
    with pytest.raises(ConfigError, match="repeated: s"):
        keeper(store, starter, "{name: s, runbook: r, cron: '* * * * *'}",
               "{name: s, runbook: q, at: '2026-01-01 00:00'}")


def test_prune_keeps_each_schedules_latest(store):
    starter = Starter(fail=RunbookError("x"))
    k = keeper(store, starter, HOURLY)
    for hour in (8, 9, 10):
        k.tick(lima(2026, 3, 2, hour))
    assert k.prune(lima(2026, 3, 3)) == 2
    assert [r["due_at"] for r in queries.schedule_run_rows(store)] == [lima(2026, 3, 2, 10)]
    assert k.tick(lima(2026, 3, 2, 10, 30)) == []
