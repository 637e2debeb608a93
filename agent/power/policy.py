"""The power policy's state machine, one per UPS: normal → on_battery → shutting_down → waiting_for_mains
→ starting → normal (and on_battery → normal when the mains come back before the shutdown starts).

It is fed every check result (SNMP polls, the poll a trap asks for, NUT) and reads four readings every UPS
profile and NUT give the same names: `ups_output_source` (battery / normal), `ups_battery_runtime_seconds`,
`ups_battery_charge_ratio`, `ups_battery_status` (batteryLow). Whatever comes first moves it. Every move is
latched in the store before anything is started or mailed, and what is started or mailed carries a key of
the episode (a run's trigger, an outbox `source`), so a restart neither starts a second shutdown nor mails
the same notice twice. The shutdown and the startup are runbooks: they are journalled and resume by
themselves; the policy only watches their status.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from agent.core.results import CheckResult
from agent.errors import AgentError, ConfigError
from agent.power.budget import Budget, shutdown_budget
from agent.power.state import (
    NORMAL,
    ON_BATTERY,
    SHUTTING_DOWN,
    STARTING,
    STATES,
    WAITING_FOR_MAINS,
    PowerState,
    PowerStates,
)

_LOGGER = logging.getLogger(__name__)
TERMINAL = {"successful", "completed_with_failures", "failed", "canceled"}


def _now() -> datetime:
    return datetime.now(UTC)


class PowerPolicy:
    """Watch the UPS devices of the `power:` section and carry out its rules.

    `start_run(runbook, params, trigger) -> run id`, `run_status(run_id) -> status or None` and
    `tell(to_groups, subject, body, source)` are the daemon's; tests give their own."""

    def __init__(self, settings, store, start_run: Callable[[str, dict, dict], str],
                 run_status: Callable[[str], str | None], tell: Callable[[list[str], str, str, str], None],
                 clock: Callable[[], datetime] = _now):
        self.settings, self.store, self.config = settings, store, settings.config.power
        self.start_run, self.run_status, self.tell, self.clock = start_run, run_status, tell, clock
        self.states = PowerStates(store)
        self.ups = self._ups() if self.config.enabled else []
        self.fed = self._fed()
        self.current: dict[str, PowerState] = {u: s for u, s in self.states.all().items() if u in self.ups}
        self.mail_waiting = False          # a notice was queued: the daemon delivers it at its next tick
        self.fsd_due: set[str] = set()     # UPS whose staged shutdown finished: NUT's FSD is raised next tick

    # ---------------------------------------------------------------- what it watches
    def _ups(self) -> list[str]:
        inv = self.settings.inventory
        names = self.config.ups or [d.name for d in inv.devices if d.kind == "ups"]
        unknown = [n for n in names if n not in inv.by_name or inv.by_name[n].kind != "ups"]
        if unknown:
            raise ConfigError(f"power.ups: {', '.join(unknown)} not a UPS of the inventory {inv.path}")
        return names

    def _fed(self) -> dict[str, list[str]]:
        """The devices each UPS feeds (`oti_power`); with no device naming its UPS, every UPS feeds all."""
        inv = self.settings.inventory
        wrong = sorted({f"{d.name} → {u}" for d in inv.devices for u in d.power
                        if u not in inv.by_name or inv.by_name[u].kind != "ups"})
        if wrong:
            raise ConfigError(f"inventory {inv.path}: oti_power names no UPS of the inventory: {', '.join(wrong)}")
        if not any(d.power for d in inv.devices):
            return {u: [d.name for d in inv.devices] for u in self.ups}
        return {u: [d.name for d in inv.devices if u in d.power or d.name == u] for u in self.ups}

    def state_of(self, ups: str) -> PowerState:
        return self.current.get(ups) or PowerState(ups, NORMAL, None)

    # ---------------------------------------------------------------- the inputs
    def observe(self, results: list[CheckResult], now: datetime | None = None) -> list[tuple[str, str]]:
        """Feed results (any devices); return the moves made, as (ups, new state)."""
        if not self.ups:
            return []
        now = now or self.clock()
        moves = []
        for res in results:
            if res.device not in self.ups or not res.up:
                continue                  # a UPS that does not answer tells nothing (its alert says it)
            seen = _readings(res)
            if seen.get("source") is None:
                continue
            before = self.state_of(res.device).state
            after = self._step(res.device, seen, now)
            if after != before:
                moves.append((res.device, after))
        return moves

    def tick(self, now: datetime | None = None) -> list[tuple[str, str]]:
        """Follow the runs the policy started (a shutdown that ended: wait for the mains)."""
        now = now or self.clock()
        moves = []
        for ups, st in list(self.current.items()):
            if st.state in (SHUTTING_DOWN, STARTING) and st.run_id:
                status = self.run_status(st.run_id)
                if status in TERMINAL:
                    moves.append((ups, self._run_ended(st, status, now)))
        return moves

    # ---------------------------------------------------------------- the machine
    def _step(self, ups: str, seen: dict, now: datetime) -> str:
        st = self.state_of(ups)
        on_battery = seen["source"] == "battery"
        if st.state == NORMAL and on_battery:
            return self._on_battery(st, seen, now)
        if st.state == ON_BATTERY:
            if not on_battery:
                self._save(st.moved(NORMAL, now, "energía comercial restablecida antes del apagado"))
                self._tell_mains_back(st, now)
                return NORMAL
            why = self._shutdown_due(st, seen)
            if why and st.run_id is None:            # a run_id here: the jefa canceled it, not again
                return self._start_shutdown(st, seen, why, now)
        if st.state == WAITING_FOR_MAINS:
            return self._waiting(st, seen, now)
        if st.state in (SHUTTING_DOWN, STARTING):
            if st.run_id is None:                   # the agent stopped between the latch and the start
                self._launch(st)
            elif self.run_status(st.run_id) in TERMINAL:
                return self._run_ended(st, self.run_status(st.run_id), now)
        return self.state_of(ups).state

    def _on_battery(self, st: PowerState, seen: dict, now: datetime) -> str:
        try:
            budget = self._budget()
        except AgentError as err:
            budget = None
            _LOGGER.error("power %s: the shutdown's budget cannot be planned (%s); it will start on the "
                          "battery floor or the UPS's low-battery flag", st.ups, err)
        runtime = seen.get("runtime")
        detail = (f"en batería; autonomía {_minutes(runtime)}" +
                  (f", presupuesto del apagado {_minutes(budget.seconds)} ({budget.how})" if budget else ""))
        new = st.moved(ON_BATTERY, now, detail, budget_s=budget.seconds if budget else None)
        self._save(new)
        subject = f"UPS {st.ups} en batería — autonomía {_minutes(runtime)}"
        body = (f"La UPS {st.ups} opera con batería desde {self._local(now)}.\n"
                f"Autonomía estimada: {_minutes(runtime)}; carga: {_percent(seen.get('charge'))}.\n"
                + (f"El apagado ordenado del Centro de Datos necesita {_minutes(budget.seconds)} "
                   f"({budget.how}); empezará cuando la autonomía llegue a ese tiempo, la carga a "
                   f"{_percent(self.config.shutdown.battery_floor)} o la UPS indique batería baja.\n"
                   if budget else "El presupuesto del apagado no pudo calcularse: se apagará con la carga mínima "
                                  "o con la indicación de batería baja de la UPS.\n")
                + "\noti-agent — política de energía (S.04.04.01.02_P, actividades 7 a 15)")
        self._tell(self.config.notify, subject, body, f"power:{st.ups}:{now:%Y%m%dT%H%M%S}:on_battery")
        return ON_BATTERY

    def _shutdown_due(self, st: PowerState, seen: dict) -> str | None:
        """Why the staged shutdown must start now, or None."""
        runtime, charge = seen.get("runtime"), seen.get("charge")
        if st.budget_s is not None and runtime is not None and runtime <= st.budget_s:
            return f"autonomía {_minutes(runtime)} ≤ presupuesto del apagado {_minutes(st.budget_s)}"
        if charge is not None and charge <= self.config.shutdown.battery_floor:
            return f"carga {_percent(charge)} ≤ mínima {_percent(self.config.shutdown.battery_floor)}"
        if seen.get("low"):
            return "la UPS indica batería baja"
        return None

    def _start_shutdown(self, st: PowerState, seen: dict, why: str, now: datetime) -> str:
        # latched first: a restart between this and the run finds "shutting_down" without a run, and looks
        # the run up by the episode key in its trigger before starting one (never two)
        new = st.moved(SHUTTING_DOWN, now, f"{st.ups} en batería: {why}", budget_s=st.budget_s)
        self._save(new)
        self._launch(new)
        return SHUTTING_DOWN

    def _launch(self, st: PowerState) -> None:
        """Start (or find, after a restart) the run of a shutting_down or starting state; latch its id."""
        if st.state == SHUTTING_DOWN:
            cfg = self.config.shutdown
            runbook, params = cfg.runbook, {**cfg.params, "emergencia": True, "motivo": f"Corte de energía: "
                                            f"{st.detail}", "reglas_emergencia": rules_text(cfg.emergency)}
            extra = {"emergency": cfg.emergency.model_dump(mode="json")}
        else:
            runbook, params, extra = (self.config.startup.runbook,
                                      {**self.config.startup.params, "confirmar_inicio": self.config.startup.ask_first},
                                      {})
        run_id = self._start(runbook, params, {"by": "policy", "policy": f"power:{st.ups}", "reason": st.detail,
                                               "device": st.ups, "episode": _episode(st),
                                               "scope": self.fed[st.ups], **extra})
        if run_id:
            self._save(replace(st, run_id=run_id))

    def _waiting(self, st: PowerState, seen: dict, now: datetime) -> str:
        cfg = self.config.startup
        if seen["source"] != "normal":
            if st.mains_since is not None:
                self._save(st.moved(WAITING_FOR_MAINS, st.since, "la energía comercial volvió a fallar"))
            return WAITING_FOR_MAINS
        if st.mains_since is None:
            self._save(st.moved(WAITING_FOR_MAINS, st.since, "energía comercial de vuelta; se espera que se "
                                f"mantenga {_minutes(cfg.mains_stable_for)}", mains_since=now))
            return WAITING_FOR_MAINS
        stable = (now - st.mains_since).total_seconds() >= cfg.mains_stable_for
        charged = (seen.get("charge") or 0.0) >= cfg.battery_recharged
        if not (stable and charged):
            return WAITING_FOR_MAINS
        reason = (f"energía comercial estable {_minutes((now - st.mains_since).total_seconds())}, "
                  f"batería {_percent(seen.get('charge'))}")
        new = st.moved(STARTING, now, reason)
        self._save(new)
        self._launch(new)
        return STARTING

    def _run_ended(self, st: PowerState, status: str, now: datetime) -> str:
        if st.state == STARTING:
            self._save(st.moved(NORMAL, now, f"encendido terminado ({status})"))
            return NORMAL
        if status == "failed" and self._canceled_by_a_person(st.run_id):
            # the jefa's No within her window: the datacenter stays on; no second shutdown this episode
            self._save(st.moved(ON_BATTERY, now, "apagado de emergencia cancelado por la Jefa", run_id=st.run_id,
                                budget_s=st.budget_s))
            return ON_BATTERY
        self._save(st.moved(WAITING_FOR_MAINS, now, f"apagado terminado ({status}); se espera la energía comercial"))
        if status in ("successful", "completed_with_failures") and self.config.shutdown.nut_forced_shutdown:
            self.fsd_due.add(st.ups)         # only now: NUT is the last line, after the agent's own order
        return WAITING_FOR_MAINS

    # ---------------------------------------------------------------- helpers
    def _budget(self) -> Budget:
        cfg = self.config.shutdown
        waits = sum(rule.expire_after for rule in cfg.emergency.approvals.values())
        return shutdown_budget(self.settings, self.store, cfg.runbook,
                               {**cfg.params, "emergencia": True}, cfg.margin, waits)

    def _start(self, runbook: str, params: dict, trigger: dict) -> str | None:
        found = self._run_of_episode(trigger["episode"], runbook)
        if found:
            return found                       # started before a restart: the same run, not a second one
        try:
            return self.start_run(runbook, params, trigger)
        except AgentError as err:
            _LOGGER.error("power %s: %s did not start: %s", trigger["device"], runbook, err)
            return None

    def _run_of_episode(self, episode: str, runbook: str) -> str | None:
        from agent.store import queries

        for run in queries.run_list(self.store, 200):
            trig = json.loads(run["trigger"]) if run.get("trigger") else {}
            if trig.get("episode") == episode and run["runbook"] == runbook:
                return run["id"]
        return None

    def _canceled_by_a_person(self, run_id: str | None) -> bool:
        from agent.store import queries

        if not run_id:
            return False
        return any(d["kind"] == "approval" and d["decision"] != "approved" and d["by"] != "agente"
                   for d in queries.run_decision_rows(self.store, run_id))

    def _save(self, st: PowerState) -> None:
        self.states.save(st)
        self.current[st.ups] = st
        _LOGGER.info("power %s: %s (%s)", st.ups, st.state, st.detail)

    def _tell(self, groups: list[str], subject: str, body: str, source: str) -> None:
        try:
            self.tell(groups, subject, body, source)
        except AgentError as err:
            _LOGGER.error("power notice %r not queued: %s", subject, err)

    def _tell_mains_back(self, st: PowerState, now: datetime) -> None:
        self._tell(self.config.notify, f"UPS {st.ups}: energía comercial restablecida",
                   f"La UPS {st.ups} volvió a la energía comercial el {self._local(now)}, antes de que fuera "
                   "necesario apagar el Centro de Datos.\n\noti-agent — política de energía",
                   f"power:{st.ups}:{_episode(st)}:mains_back")

    def _local(self, when: datetime) -> str:
        from zoneinfo import ZoneInfo

        return when.astimezone(ZoneInfo(self.settings.config.agent.timezone)).strftime("%d/%m/%Y %H:%M")


def metrics_text(policy: PowerPolicy) -> str:
    """`oti_power_state{ups, state}`: 1 for the state each watched UPS's policy is in, 0 for the others."""
    if not policy.ups:
        return ""
    lines = ["# HELP oti_power_state The power policy's state per UPS (1: the current one): normal, on_battery, "
             "shutting_down, waiting_for_mains, starting\n# TYPE oti_power_state gauge\n"]
    for ups in sorted(policy.ups):
        now = policy.state_of(ups).state
        lines += [f'oti_power_state{{ups="{_escape(ups)}",state="{s}"}} {1.0 if s == now else 0.0}\n' for s in STATES]
    return "".join(lines)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def rules_text(emergency) -> str:
    """The emergency rules in Spanish, for the run's checklist: which approvals wait how long, which are waived."""
    parts = [f"{step}: si nadie responde en {_minutes(rule.expire_after)} se "
             + {"approve": "aprueba (puede cancelarse antes)", "reject": "rechaza",
                "escalate": f"consulta a {rule.escalate_to}"}[rule.on_expiry]
             for step, rule in emergency.approvals.items()]
    parts += [f"{step}: dispensada (se informa después)" for step in emergency.skip_approvals]
    return "; ".join(parts) or "sin reglas de aprobación"


def _episode(st: PowerState) -> str:
    return f"{st.ups}:{(st.since or datetime.fromtimestamp(0, UTC)).astimezone(UTC):%Y%m%dT%H%M%S}"


def _readings(res: CheckResult) -> dict:
    out: dict = {}
    for r in res.readings:
        if r.name == "ups_output_source" and r.text:
            out["source"] = "battery" if r.text == "battery" else "normal" if r.text in (
                "normal", "bypass", "booster", "reducer") else None
        elif r.name == "ups_battery_runtime_seconds" and r.value is not None:
            out["runtime"] = r.value
        elif r.name == "ups_battery_charge_ratio" and r.value is not None:
            out["charge"] = r.value
        elif r.name == "ups_battery_status" and r.text:
            out["low"] = r.text in ("batteryLow", "batteryDepleted")
    return out


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return "desconocida"
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"


def _percent(ratio: float | None) -> str:
    return "desconocida" if ratio is None else f"{ratio * 100:.0f} %"
