"""The call store: one SQLite file (WAL mode) holding calls, their events, menus, staff and users.

Both processes open it: the engine writes calls and events as they happen, the web side reads the
call log and edits configuration. Schema changes only by numbered migration (``MIGRATIONS``),
tracked in ``PRAGMA user_version``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import sqlite_utils


def _migration_1(db: sqlite_utils.Database) -> None:
    db["calls"].create(
        {
            "id": int,
            "line": str,
            "caller_number": str,
            "caller_name": str,
            "caller_status": str,
            "arrived_at": float,
            "answered_at": float,
            "menu_key": str,
            "queue": str,
            "queued_at": float,
            "staff_id": str,
            "staff_answered_at": float,
            "ended_at": float,
            "wait_s": float,
            "talk_s": float,
            "outcome": str,
            "hangup_signal": str,
            "recording": str,
        },
        pk="id",
    )
    db["calls"].create_index(["arrived_at"])
    db["call_events"].create(
        {"id": int, "call_id": int, "at": float, "kind": str, "detail": str},
        pk="id",
        foreign_keys=[("call_id", "calls", "id")],
    )
    db["call_events"].create_index(["call_id"])
    db["menus"].create({"name": str, "definition": str, "updated_at": float}, pk="name")
    db["queues"].create({"name": str, "label": str}, pk="name")
    db["staff"].create(
        {"id": str, "name": str, "skills": str, "headset": str, "active": int}, pk="id"
    )
    db["users"].create(
        {"username": str, "password_hash": str, "role": str, "created_at": float},
        pk="username",
    )
    db["settings"].create({"key": str, "value": str}, pk="key")


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_migration_1]

OUTCOMES = {
    "answered": "Talked to staff",
    "not_answered": "Caller gave up before the line answered",
    "abandoned_in_menu": "Hung up in the menu",
    "no_choice": "No choice made in the menu",
    "abandoned_in_queue": "Hung up while waiting",
    "abandoned_while_ringing": "Hung up while a headset rang",
    "machine": "A fax or modem called (told voice only)",
    "line_fault": "Line fault",
    "engine_stopped": "Appliance stopped during the call",
}


class Store:
    """Thread-safe access to the Callbox database (one connection, one lock)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(self.path), check_same_thread=False, timeout=10.0)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=10000")
        self.db = sqlite_utils.Database(conn)
        self._lock = threading.RLock()
        self.migrate()

    # -- schema -------------------------------------------------------------
    @property
    def schema_version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    def migrate(self) -> None:
        with self._lock:
            version = self.schema_version
            for number, step in enumerate(MIGRATIONS, start=1):
                if number <= version:
                    continue
                with self.db.conn:
                    step(self.db)
                    self.db.execute(f"PRAGMA user_version = {number}")

    def close(self) -> None:
        with self._lock:
            self.db.conn.close()

    # -- calls --------------------------------------------------------------
    def new_call(self, line: str, **fields: Any) -> int:
        with self._lock, self.db.conn:
            row = {"line": line, "arrived_at": fields.pop("arrived_at", time.time())}
            row.update(fields)
            call_id = self.db["calls"].insert(row).last_pk
            self._event(call_id, "arrived", f"line {line}", row["arrived_at"])
            return call_id

    def update_call(self, call_id: int, **fields: Any) -> None:
        with self._lock, self.db.conn:
            self.db["calls"].update(call_id, fields)

    def event(self, call_id: int, kind: str, detail: str = "", at: float | None = None) -> None:
        with self._lock, self.db.conn:
            self._event(call_id, kind, detail, at)

    def _event(self, call_id: int, kind: str, detail: str, at: float | None) -> None:
        self.db["call_events"].insert(
            {"call_id": call_id, "at": time.time() if at is None else at, "kind": kind,
             "detail": detail}
        )

    def call(self, call_id: int) -> dict | None:
        with self._lock:
            rows = list(self.db["calls"].rows_where("id = ?", [call_id]))
            return rows[0] if rows else None

    def calls(self, limit: int = 100, offset: int = 0) -> list[dict]:
        with self._lock:
            return list(self.db["calls"].rows_where(order_by="id desc", limit=limit,
                                                    offset=offset))

    def call_events(self, call_id: int) -> list[dict]:
        with self._lock:
            return list(self.db["call_events"].rows_where("call_id = ?", [call_id],
                                                          order_by="at, id"))

    def open_calls(self) -> list[dict]:
        with self._lock:
            return list(self.db["calls"].rows_where("ended_at is null"))

    # -- configuration ------------------------------------------------------
    def save_menu(self, name: str, definition: dict) -> None:
        with self._lock, self.db.conn:
            self.db["menus"].upsert(
                {"name": name, "definition": json.dumps(definition), "updated_at": time.time()},
                pk="name",
            )

    def menu(self, name: str) -> dict | None:
        with self._lock:
            rows = list(self.db["menus"].rows_where("name = ?", [name]))
        return json.loads(rows[0]["definition"]) if rows else None

    def save_queue(self, name: str, label: str) -> None:
        with self._lock, self.db.conn:
            self.db["queues"].upsert({"name": name, "label": label}, pk="name")

    def queues(self) -> list[dict]:
        with self._lock:
            return list(self.db["queues"].rows_where(order_by="name"))

    def save_staff(self, staff_id: str, name: str, skills: Iterable[str], headset: str,
                   active: bool = True) -> None:
        with self._lock, self.db.conn:
            self.db["staff"].upsert(
                {"id": staff_id, "name": name, "skills": json.dumps(sorted(skills)),
                 "headset": headset, "active": int(active)},
                pk="id",
            )

    def staff(self) -> list[dict]:
        with self._lock:
            rows = list(self.db["staff"].rows_where(order_by="id"))
        for row in rows:
            row["skills"] = json.loads(row["skills"] or "[]")
        return rows

    def setting(self, key: str, default: Any = None) -> Any:
        with self._lock:
            rows = list(self.db["settings"].rows_where("key = ?", [key]))
        return json.loads(rows[0]["value"]) if rows else default

    def set_setting(self, key: str, value: Any) -> None:
        with self._lock, self.db.conn:
            self.db["settings"].upsert({"key": key, "value": json.dumps(value)}, pk="key")

    # -- users --------------------------------------------------------------
    def user(self, username: str) -> dict | None:
        with self._lock:
            rows = list(self.db["users"].rows_where("username = ?", [username]))
        return rows[0] if rows else None

    def users(self) -> list[dict]:
        with self._lock:
            return list(self.db["users"].rows_where(order_by="username"))

    def save_user(self, username: str, password_hash: str, role: str) -> None:
        with self._lock, self.db.conn:
            existing = self.user(username)
            self.db["users"].upsert(
                {"username": username, "password_hash": password_hash, "role": role,
                 "created_at": existing["created_at"] if existing else time.time()},
                pk="username",
            )
