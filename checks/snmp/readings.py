"""From a poll's varbinds to judged readings, the way each device needs judging.

A value comes from the first of a metric's sources that has one (PowerNet's high-precision OID, then
the whole-unit one). A number outside what its unit can physically be is UNKNOWN "valor imposible",
never OK. Voltage limits may be ratios of the device's nominal voltage, so 120 V and 230 V sites both
work. A per-phase table drops the phases a single-phase unit does not have. A port is judged only when
it has been seen up, or is marked important: a port never connected is not an alarm. Counters give
per-second rates (wraps and resets handled) and, over the port's speed, utilisation.
"""

from __future__ import annotations

import re
from dataclasses import replace

from agent.core.inventory import Device
from agent.core.results import Reading, State, keyed, label_text
from agent.core.thresholds import Thresholds, evaluate, nearest_nominal, times
from agent.transports.snmp import codec
from checks.snmp.profiles import MetricDef, Profile, TableDef

COUNTER32_WRAP = 2**32

_NOT_A_NUMBER = {codec.OCTET_STRING: "texto", codec.OPAQUE: "datos opacos", codec.OBJECT_ID: "un OID",
                 codec.IPADDRESS: "una dirección IP"}
NO_PROFILE = "ningún perfil responde: revise el perfil o la credencial"
ABSENT = "sin dato: el equipo no publica este OID"
# What the agent derives to judge (a rate from a counter, the values a profile gave): not exported to /metrics,
# where the counter already is and PromQL's rate() does the same over any window (its state is, when not OK).
DERIVED = "derived"


def judge_profile(profile: Profile, raw, device: Device, previous) -> list[Reading]:
    """Every reading of one profile from a poll (`raw` is a check.SnmpRaw)."""
    nominal = _nominal_voltage(profile, raw, device)
    out = []
    for m in profile.metrics:
        tag, value, scale = _scalar_source(m, raw.scalars)
        out.append(_reading(m, tag, value, scale, (), device, previous, nominal))
    for table in profile.tables:
        out += _table_readings(table, raw, device, previous, nominal)
    return _published(out, raw.memory)


def _published(readings: list[Reading], memory) -> list[Reading]:
    """Leave out readings of OIDs the device has never published: a profile covers a MIB, a device implements
    part of it. Once a reading has had a value on this device, its absence is a reading ("sin dato")."""
    out = []
    for r in readings:
        if r.value is not None or r.text is not None:
            memory.seen.add(r.key)
        elif r.message.startswith(ABSENT) and r.key not in memory.seen:
            continue
        out.append(r)
    return out


def profile_findings(counted: list[tuple[Profile, int]], raw, device: Device) -> list[Reading]:
    """A reading per profile with the number of values it gave: a device from which no profile yields data is
    CRITICAL (a silent device is a finding, never "Normal"); a profile giving nothing beside others says so."""
    help_ = "Readings with a value the profile gives on this device; 0 on every profile: the device is not read"
    if not counted:
        ident = raw.memory.identity
        seen = f" (sysObjectID {ident.sys_object_id or '—'}, sysDescr «{ident.sys_descr[:60]}»)" if ident else ""
        return [Reading("snmp_profile_values", 0.0, State.CRITICAL, "", (("profile", "ninguno"),), None, DERIVED,
                        help_, f"{NO_PROFILE}: ningún perfil conocido coincide con el equipo{seen}")]
    total = sum(n for _, n in counted)
    out = []
    for profile, n in counted:
        if n:
            state, msg = State.OK, ""
        elif total == 0:
            state, msg = State.CRITICAL, f"{NO_PROFILE} (perfil {profile.profile}: ningún dato)"
        else:
            state, msg = State.WARNING, f"el perfil {profile.profile} no devuelve ningún dato en este equipo"
        out.append(Reading("snmp_profile_values", float(n), state, "", (("profile", profile.profile),), None,
                           DERIVED, help_, msg))
    return out


def _usable(vb) -> bool:
    return vb is not None and vb[1] not in codec.EXCEPTIONS and vb[2] is not None


def _good(m: MetricDef, tag, value) -> bool:
    return tag is not None and tag not in codec.EXCEPTIONS and value is not None and value not in m.invalid


def _scalar_source(m: MetricDef, scalars) -> tuple:
    """(tag, value, scale) of the first source with a usable value that is not one of the 'absent' values."""
    first = None
    for oid, scale in m.sources:
        vb = scalars.get(oid)
        if first is None and vb is not None:
            first = (vb[1], vb[2], scale)
        if _usable(vb) and vb[2] not in m.invalid:
            return vb[1], vb[2], scale
    return first or (None, None, m.scale)


def _rows_of(columns, col: bytes) -> dict[bytes, tuple[int, object]]:
    return {name[len(col):]: (tag, value) for name, tag, value in columns.get(col, ())}


def _table_readings(table: TableDef, raw, device: Device, previous, nominal) -> list[Reading]:
    """Turn walked columns into readings labelled by index and label columns."""
    columns = raw.columns
    labels: dict[bytes, list[tuple[str, str]]] = {}
    for label, oid in table.labels.items():
        col = codec.encode_oid(oid)
        names = table.label_values.get(label, {})
        for index, (_tag, value) in _rows_of(columns, col).items():
            text = _text(value)
            labels.setdefault(index, []).append((label, names.get(text, text)))
    # each metric's value per row: the first source column that has one
    values: dict[str, dict[bytes, tuple]] = {}
    order: dict[bytes, None] = {}           # rows in the order the walk met them (a dict: thousands of ports)
    for m in table.metrics:
        per_row: dict[bytes, tuple] = {}
        for oid, scale in m.sources:
            for index, (tag, value) in _rows_of(columns, oid).items():
                chosen = per_row.get(index)
                if chosen is None or (not _good(m, *chosen[:2]) and _good(m, tag, value)):
                    per_row[index] = (tag, value, scale)
        values[m.name] = per_row
        order.update(dict.fromkeys(per_row))
    rows = _rows_in_use(table, list(order), values, raw.scalars)
    row_labels_of = {i: ((table.index_label, ".".join(map(str, codec.decode_arcs(i)))), *labels.get(i, ()))
                     for i in rows}                       # once per row, not once per metric and row
    row_text = {i: label_text(ls) for i, ls in row_labels_of.items()}
    gates: dict[bytes, dict] = {}
    out = []
    for m in table.metrics:
        gate = None
        if m.only_when:
            gcol = codec.encode_oid(m.only_when.column)
            gate = gates.setdefault(gcol, {i: v for i, (_t, v) in _rows_of(columns, gcol).items()})
        scales = _row_scales(m, columns)
        combined = _combine(m, columns)
        per_row = values[m.name]
        for index in rows:
            got = per_row.get(index)
            if got is None:
                continue
            gated = gate is not None and gate.get(index) not in m.only_when.equals
            if gated and m.only_when.otherwise == "skip":
                continue
            tag, value, scale = got
            if value in m.skip_values:
                continue
            row_labels = row_labels_of[index]
            if m.rows_where and not all(re.search(p, dict(row_labels).get(k, "")) for k, p in m.rows_where.items()):
                continue
            if index in scales:
                scale = scales[index]
            if combined is not None and isinstance(value, int) and tag not in codec.EXCEPTIONS \
                    and value not in m.invalid:
                factor = combined.get(index)
                if factor is None:
                    tag, value = None, None            # the other column is missing: no value
                else:
                    scale *= factor
            reading = _reading(m, tag, value, scale, row_labels, device, previous, nominal,
                               keyed(m.name, row_text[index]))
            if gated:
                reading = replace(reading, state=State.OK)   # e.g. an admin-down port: intentional
            elif m.ports == "ever_up":
                reading = _port(reading, raw.memory, device)
            out.append(reading)
            if m.rate is not None:
                out.append(_rate(m, reading, tag, value, raw, row_labels, values, index, table, device, previous,
                                 keyed(m.rate.name, row_text[index])))
    return out


def _rows_in_use(table: TableDef, order: list[bytes], values, scalars) -> list[bytes]:
    """The rows that are real: at most the count the device declares; without a count, with `skip_empty`,
    a row after the first whose every value is 0 or absent is an unused phase."""
    rows = order
    if table.rows.count:
        vb = scalars.get(codec.encode_oid(table.rows.count))
        if _usable(vb) and isinstance(vb[2], int) and vb[2] > 0:
            n = vb[2]
            return [i for i in rows if (codec.decode_arcs(i) or [0])[0] <= n]
    if table.rows.skip_empty:
        def empty(index: bytes) -> bool:
            for m in table.metrics:
                got = values[m.name].get(index)
                if got and _good(m, got[0], got[1]) and isinstance(got[1], int) and got[1] != 0:
                    return False
            return True
        rows = [i for k, i in enumerate(rows) if k == 0 or not empty(i)]
    return rows


def _combine(m: MetricDef, columns) -> dict[bytes, float] | None:
    """Per row, the factor the value is multiplied by: 1 / (sum of the divide_by columns) × the multiply_by
    column; rows where those are missing or the sum is 0 have none."""
    if m.combine is None:
        return None
    parts = [_rows_of(columns, codec.encode_oid(c)) for c in m.combine.divide_by]
    times = _rows_of(columns, codec.encode_oid(m.combine.multiply_by)) if m.combine.multiply_by else None
    indexes = set.intersection(*(set(p) for p in parts)) if parts else set(times or {})
    out = {}
    for index in indexes:
        factor = 1.0
        if parts:
            values = [p[index][1] for p in parts]
            if not all(isinstance(v, int) for v in values) or sum(values) <= 0:
                continue
            factor /= sum(values)
        if times is not None:
            got = times.get(index, (None, None))[1]
            if not isinstance(got, int):
                continue
            factor *= got
        out[index] = factor
    return out


def _row_scales(m: MetricDef, columns) -> dict[bytes, float]:
    """Per-row scale from SensorDataScale and precision columns (ENTITY-SENSOR-MIB), times the metric's scale."""
    if m.row_scale is None:
        return {}
    exps = _rows_of(columns, codec.encode_oid(m.row_scale.scale)) if m.row_scale.scale else {}
    precs = _rows_of(columns, codec.encode_oid(m.row_scale.precision)) if m.row_scale.precision else {}
    out = {}
    for index in set(exps) | set(precs):
        e = exps.get(index, (None, 9))[1]
        p = precs.get(index, (None, 0))[1]
        e = e if isinstance(e, int) and 1 <= e <= 17 else 9
        p = p if isinstance(p, int) and -8 <= p <= 9 else 0
        out[index] = m.scale * 10.0 ** (3 * (e - 9) - p)
    return out


def _nominal_voltage(profile: Profile, raw, device: Device) -> float | None:
    """The inventory's nominal voltage, else the device's declared one, else the standard nearest its output."""
    if device.snmp is not None and device.snmp.nominal_voltage:
        return device.snmp.nominal_voltage
    nv = profile.nominal_voltage
    if nv is None:
        return None
    for oid in nv.oid:
        vb = raw.scalars.get(codec.encode_oid(oid))
        if _usable(vb) and isinstance(vb[2], int) and 50 <= vb[2] * nv.scale <= 1000:
            return vb[2] * nv.scale
    remembered = raw.memory.nominal
    if nv.infer_from:
        measured = _first_value(profile, nv.infer_from, raw)
        nearest = nearest_nominal(measured) if measured is not None else None
        if nearest is not None:
            remembered[profile.profile] = nearest
    return remembered.get(profile.profile)


def _first_value(profile: Profile, name: str, raw) -> float | None:
    for m in profile.metrics:
        if m.name == name:
            tag, value, scale = _scalar_source(m, raw.scalars)
            return value * scale if isinstance(value, int) and tag not in codec.EXCEPTIONS else None
    for t in profile.tables:
        for m in t.metrics:
            if m.name == name:
                for oid, scale in m.sources:
                    for _i, (tag, value) in _rows_of(raw.columns, oid).items():
                        if isinstance(value, int) and tag not in codec.EXCEPTIONS and value not in m.invalid:
                            return value * scale
    return None


def _limits(m: MetricDef, device: Device, nominal: float | None, labels=()) -> Thresholds | None:
    own = device.thresholds.get(m.name) if device.thresholds else None
    mine = m.thresholds
    if m.thresholds_by:
        for label, value in labels:
            mine = m.thresholds_by.get(label, {}).get(value, mine)
    if own is not None or mine is None or m.relative_to is None:
        return own if own is not None else mine
    if nominal is None:
        return None                      # no nominal known: a relative limit cannot be placed
    return times(mine, nominal)


def _reading(m: MetricDef, tag: int | None, value, scale: float, labels, device: Device, previous,
             nominal: float | None, key: str = "") -> Reading:
    """Scale and judge one raw value (`key`: its reading key when the caller has it)."""
    key_labels = tuple(labels)
    key = key or keyed(m.name, label_text(key_labels))
    if tag is None or tag in codec.EXCEPTIONS or value is None:
        return Reading(m.name, None, State.UNKNOWN, m.unit, key_labels, None, m.type, m.help, ABSENT, key)
    if m.type == "info":
        return Reading(m.name, None, State.OK, m.unit, key_labels, _text(value), "info", m.help, "", key)
    if not isinstance(value, int):     # text, an OID or an address where the profile expects a number
        return Reading(m.name, None, State.UNKNOWN, m.unit, key_labels, None, m.type, m.help,
                       f"tipo inesperado: el equipo envía {_NOT_A_NUMBER.get(tag, 'otro tipo')} donde se espera "
                       "un número", key)
    if value in m.invalid:
        return Reading(m.name, None, State.UNKNOWN, m.unit, key_labels, None, m.type, m.help,
                       f"sin dato: el equipo informa {value} (no disponible)", key)
    scaled = round(value * scale, 6) if scale != 1.0 else float(value)
    sane = m.sane_range if m.type == "gauge" and not m.enum else None
    if sane is not None and not sane[0] <= scaled <= sane[1]:
        return Reading(m.name, None, State.UNKNOWN, m.unit, key_labels, None, m.type, m.help,
                       f"valor imposible: el equipo informa {scaled:g} {m.unit} (un valor real está entre "
                       f"{sane[0]:g} y {sane[1]:g}); revise el perfil o el firmware", key)
    state, label = m.state_of(value, scaled, previous.get(key) if previous else None,
                              _limits(m, device, nominal, key_labels))
    return Reading(m.name, scaled, state, m.unit, key_labels, label, m.type, m.help, "", key)


def _port(reading: Reading, memory, device: Device) -> Reading:
    """A port status judged only when the port has been seen up or is marked important."""
    if reading.text == "up":
        memory.ports_up.add(reading.key)
        return reading
    if reading.state == State.OK or reading.key in memory.ports_up or _important(reading, device):
        return reading
    return replace(reading, state=State.OK, message="puerto sin conexión desde que se vigila: no es una alarma "
                                                    "(márquelo en oti_snmp.important_ports si debe estar conectado)")


def _important(reading: Reading, device: Device) -> bool:
    patterns = device.snmp.important_ports if device.snmp is not None else []
    names = [v for k, v in reading.labels if k in ("ifname", "ifalias", "ifdescr")]
    return any(re.search(p, n) for p in patterns for n in names if n)


def _rate(m: MetricDef, counter: Reading, tag, value, raw, labels, values, index, table: TableDef,
          device: Device, previous, key: str) -> Reading:
    """The per-second rate of a counter since the last poll; over another reading of the row: a ratio."""
    rate = m.rate
    key_labels = tuple(labels)
    memory = raw.memory
    before = memory.counters_before.get(counter.key)
    if not isinstance(value, int) or tag in codec.EXCEPTIONS:
        return Reading(rate.name, None, State.UNKNOWN, rate.unit, key_labels, None, DERIVED, rate.help,
                       "sin dato: el contador no se leyó", key)
    memory.counters[counter.key] = value
    if before is None or raw.at <= memory.before_at:
        return Reading(rate.name, None, State.OK, rate.unit, key_labels, None, DERIVED, rate.help,
                       "primera lectura del contador: la tasa se calcula en la siguiente", key)
    delta = value - before
    if delta < 0:
        if tag == codec.COUNTER32 and before - value > COUNTER32_WRAP // 2:
            delta += COUNTER32_WRAP                           # the 32-bit counter went round
        else:
            return Reading(rate.name, None, State.OK, rate.unit, key_labels, None, DERIVED, rate.help,
                           "el contador se reinició (el equipo o el puerto se reiniciaron): la tasa sigue en la "
                           "próxima lectura", key)
    per_s = delta * m.scale / (raw.at - memory.before_at)
    if rate.of is not None:
        other = next((t for t in table.metrics if t.name == rate.of), None)
        got = values.get(rate.of, {}).get(index) if other else None
        if not got or not isinstance(got[1], int) or got[1] <= 0:
            return Reading(rate.name, None, State.UNKNOWN, rate.unit, key_labels, None, DERIVED, rate.help,
                           f"sin dato: falta {rate.of} para calcular la proporción", key)
        per_s = per_s / (got[1] * got[2])
    per_s = round(per_s, 6)
    limits = device.thresholds.get(rate.name) or rate.thresholds
    state = evaluate(per_s, limits, previous.get(key) if previous else None)
    return Reading(rate.name, per_s, state, rate.unit, key_labels, None, DERIVED, rate.help, "", key)


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace").rstrip("\x00")
    return "" if value is None else str(value)
