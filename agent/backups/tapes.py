"""The tape inventory (Anexo 04) and the custody boxes (activities 6–7, 13–14, 18–19).

The backend says what a tape holds, its status and whether it sits in the library; the agent keeps
what backup software does not: which custody box a tape went in, the box's seal, when it left and
came back, and who moved it. A tape is in the `biblioteca` when the library has it, with the
`custodia` company when its box was sent, otherwise in the `oficina`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import and_, delete, insert, select, update

from agent.backups.backend import BackupBackend
from agent.core.times import utc
from agent.errors import TapeError
from agent.store import Store, chain, queries
from agent.store.schema import backup_runs, custody_movements, tape_box_items, tape_boxes, tapes

__all__ = ["TapeError", "TapeInventory"]

class TapeInventory:
    """Tapes and custody boxes in the store."""

    def __init__(self, store: Store, clock=None):
        self.store = store
        self.clock = clock or (lambda: datetime.now(UTC))

    # ------------------------------------------------------------------ sync from the backend
    def sync(self, backend: BackupBackend) -> dict[str, int]:
        """Bring every tape the backend knows into the inventory; custody data is kept. Return counts."""
        volumes = backend.volumes()
        now = utc(self.clock())
        with chain.transaction(self.store, "custody_movements") as conn:
            known = {r.label: r for r in conn.execute(select(tapes))}
            sent = {r.label for r in conn.execute(
                select(tape_box_items.c.label).join(tape_boxes, tape_boxes.c.box == tape_box_items.c.box)
                .where(and_(tape_boxes.c.status == "enviada", tape_box_items.c.removed_at.is_(None))))}
            added = 0
            for v in volumes:
                until = (v.last_written + timedelta(seconds=v.retention_s)) if v.last_written and v.retention_s else None
                location = "biblioteca" if v.in_library else "custodia" if v.label in sent else "oficina"
                values = dict(backend=backend.name, pool=v.pool, status=v.status, backend_status=v.backend_status,
                              bytes=v.bytes, first_written=_u(v.first_written), last_written=_u(v.last_written),
                              retention_until=_u(until), slot=v.slot if v.in_library else None, location=location,
                              synced_at=now)
                if v.label in known:
                    conn.execute(update(tapes).where(tapes.c.label == v.label).values(**values))
                else:
                    conn.execute(insert(tapes).values(label=v.label, **values))
                    added += 1
        return {"tapes": len(volumes), "new": added}

    def list(self) -> list[dict]:
        """Every tape, by label."""
        return queries.tape_list(self.store)

    def tape(self, label: str) -> dict:
        found = [t for t in self.list() if t["label"] == label]
        if not found:
            raise TapeError(f"tape {label!r} is not in the inventory; run `oti-agent tapes sync` "
                            "if the backend has just labelled it")
        return found[0]

    def keep_until(self, assets) -> dict[str, tuple[datetime, str]]:
        """For each tape, until when the asset matrix says it must be kept, and for which asset: the latest end of
        a good backup it holds plus that asset's retention ("4 años")."""
        retention = {a.id: timedelta(days=a.retention_days) for a in assets.assets}
        out: dict[str, tuple[datetime, str]] = {}
        for r in self.store.rows(select(backup_runs).where(and_(backup_runs.c.volumes.is_not(None),
                                                                backup_runs.c.status.in_(queries.GOOD_BACKUP)))):
            if r["asset"] not in retention:
                continue
            until = _u(r["ended_at"] or r["started_at"]) + retention[r["asset"]]
            for label in filter(None, r["volumes"].split(",")):
                if label not in out or until > out[label][0]:
                    out[label] = (until, r["asset"])
        return out

    def early_recycling(self, assets) -> list[str]:
        """The tapes the backend may recycle (its own retention) before the matrix's retention of what they hold
        ends, each said in one line: the backend's retention must be raised, or a backup would be lost early."""
        keep = self.keep_until(assets)
        lines = []
        for t in self.list():
            need = keep.get(t["label"])
            until = _u(t["retention_until"])
            if need is not None and until is not None and until < need[0]:
                lines.append(f"{t['label']}: {t['backend']} may recycle it from {until:%Y-%m-%d}, but it holds "
                             f"{need[1]}, which the asset matrix keeps until {need[0]:%Y-%m-%d}: raise the "
                             f"retention of pool {t['pool']} in {t['backend']}")
        return lines

    def jobs_by_tape(self) -> dict[str, list[str]]:
        """For each tape, the backups it holds: 'asset (dd/mm/yyyy, job N)'."""
        return queries.jobs_by_tape(self.store)

    # ------------------------------------------------------------------ boxes
    def boxes(self) -> dict[str, dict]:
        """Every custody box with the tapes in it now."""
        return queries.tape_boxes_list(self.store)

    def box(self, box: str) -> dict:
        found = self.boxes().get(box)
        if found is None:
            raise TapeError(f"no custody box {box!r}; see `oti-agent tapes boxes`")
        return found

    def prepare(self, box: str, labels: list[str], seal: str | None, by: str, company: str,
                capacity: int, allow_not_full: bool = False) -> dict:
        """Activity 6: put full tapes in a box (new, or one back in the office) ready to leave."""
        if not labels:
            raise TapeError("name at least one tape")
        inventory = {t["label"]: t for t in self.list()}
        unknown = [lb for lb in labels if lb not in inventory]
        if unknown:
            raise TapeError(f"unknown tape(s) {', '.join(unknown)}: the backend does not know them "
                            "(check the label, or run `oti-agent tapes sync`)")
        boxes = self.boxes()
        busy = {lb: b for b, info in boxes.items() for lb in info["tapes"] if b != box}
        clash = [f"{lb} (caja {busy[lb]})" for lb in labels if lb in busy]
        if clash:
            raise TapeError(f"already in another box: {', '.join(clash)}")
        not_full = [lb for lb in labels if inventory[lb]["status"] not in ("full", "used")]
        if not_full and not allow_not_full:
            raise TapeError(f"not full: {', '.join(not_full)} (the manual sends full tapes; "
                            "--allow-not-full to send them anyway)")
        existing = boxes.get(box)
        if existing and existing["status"] == "enviada":
            raise TapeError(f"box {box} is with the custody company since {existing['sent_at']:%d/%m/%Y}")
        tapes_now = sorted(set((existing or {}).get("tapes", [])) | set(labels))
        if len(tapes_now) > capacity:
            raise TapeError(f"box {box} would hold {len(tapes_now)} tapes; it takes {capacity}")
        now = utc(self.clock())
        with chain.transaction(self.store, "custody_movements") as conn:
            if existing:
                conn.execute(update(tape_boxes).where(tape_boxes.c.box == box).values(
                    status="preparada", seal=seal or existing["seal"]))
            else:
                conn.execute(insert(tape_boxes).values(box=box, seal=seal, status="preparada", company=company,
                                                       created_at=now))
            for lb in labels:
                conn.execute(delete(tape_box_items).where(and_(tape_box_items.c.box == box,
                                                               tape_box_items.c.label == lb)))
                conn.execute(insert(tape_box_items).values(box=box, label=lb, added_at=now))
            conn.execute(update(tapes).where(tapes.c.label.in_(labels)).values(box=box))
            chain.insert(conn, custody_movements, box=box, movement="preparada", tapes=",".join(tapes_now),
                         seal=seal, by=by, at=now)
        return self.box(box)

    def send(self, box: str, by: str, seal: str | None = None) -> dict:
        """Activity 7 / 19: the box leaves with the custody company."""
        info, seal = self.check_send(box, seal)
        now = utc(self.clock())
        with chain.transaction(self.store, "custody_movements") as conn:
            conn.execute(update(tape_boxes).where(tape_boxes.c.box == box).values(status="enviada", seal=seal,
                                                                                   sent_at=now, returned_at=None))
            conn.execute(update(tapes).where(tapes.c.label.in_(info["tapes"])).values(location="custodia"))
            chain.insert(conn, custody_movements, box=box, movement="enviada", tapes=",".join(info["tapes"]),
                         seal=seal, by=by, at=now)
        return self.box(box)

    def check_send(self, box: str, seal: str | None = None) -> tuple[dict, str]:
        """What `send` would refuse (TapeError), asked first: the company must not be told of a box that then
        does not leave. Returns the box and the seal it leaves with."""
        info = self.box(box)
        if info["status"] == "enviada":
            raise TapeError(f"box {box} was already sent on {info['sent_at']:%d/%m/%Y}")
        if not info["tapes"]:
            raise TapeError(f"box {box} is empty")
        seal = seal or info["seal"]
        if not seal:
            raise TapeError(f"box {box} has no seal number: give --seal (precinto de seguridad)")
        in_library = [t["label"] for t in self.list() if t["label"] in info["tapes"] and t["location"] == "biblioteca"]
        if in_library:
            raise TapeError(f"still in the library: {', '.join(in_library)}; eject them first")
        return info, seal

    def request(self, box: str, by: str, reason: str) -> dict:
        """Activity 13: ask the custody company to bring a box back (emergency service)."""
        info = self.box(box)
        if info["status"] != "enviada":
            raise TapeError(f"box {box} is not with the custody company (it is {info['status']})")
        with chain.transaction(self.store, "custody_movements") as conn:
            chain.insert(conn, custody_movements, box=box, movement="solicitada", tapes=",".join(info["tapes"]),
                         seal=info["seal"], by=by, at=utc(self.clock()), note=reason)
        return info

    def receive(self, box: str, by: str, seal: str | None = None) -> dict:
        """Activity 14: the box is back in the office; the seal received is recorded (and compared)."""
        info = self.box(box)
        if info["status"] != "enviada":
            raise TapeError(f"box {box} is not with the custody company (it is {info['status']})")
        note = None
        if seal and info["seal"] and seal != info["seal"]:
            note = f"precinto recibido {seal} distinto del enviado {info['seal']}"
        now = utc(self.clock())
        with chain.transaction(self.store, "custody_movements") as conn:
            conn.execute(update(tape_boxes).where(tape_boxes.c.box == box).values(status="en_oficina",
                                                                                   returned_at=now))
            conn.execute(update(tapes).where(and_(tapes.c.label.in_(info["tapes"]), tapes.c.location == "custodia"))
                         .values(location="oficina"))
            chain.insert(conn, custody_movements, box=box, movement="recibida", tapes=",".join(info["tapes"]),
                         seal=seal or info["seal"], by=by, at=now, note=note)
        return self.box(box)

    def movements(self, box: str | None = None) -> list[dict]:
        """Custody movements, oldest first (of one box)."""
        return queries.custody_movements(self.store, box)

    def full_in_library(self) -> list[str]:
        """Activity 6: the full tapes still in the library (candidates for the next box)."""
        return [t["label"] for t in self.list() if t["status"] in ("full", "used") and t["location"] != "custodia"
                and not t["box"]]

    def today(self, tz) -> date:
        return self.clock().astimezone(tz).date()


def _u(when: datetime | None) -> datetime | None:
    return utc(when) if when else None
