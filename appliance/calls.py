"""A call in progress as the engine sees it: who, where it is, and what the line worker must do next.

An ``ActiveCall`` is shared between its line worker thread (which does all the call's audio I/O)
and the engine (which makes routing decisions under its lock). The engine sets the fields; the
line worker reads them every 20 ms frame and waits on ``changed`` when it has nothing to do.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

LINE_STATES = ("idle", "ringing", "menu", "waiting", "talking", "fault")


@dataclass
class ActiveCall:
    id: int
    line_id: str
    caller_number: str | None
    caller_name: str | None
    arrived_at: float
    state: str = "ringing"  # ringing | menu | waiting | talking | ended
    queue: str | None = None
    key: str | None = None
    queued_at: float | None = None
    offered_to: str | None = None  # staff id whose headset rings
    offered_at: float | None = None
    staff_id: str | None = None  # staff member talking with the caller
    staff_answered_at: float | None = None
    staff_hung_up: bool = False
    changed: threading.Event = field(default_factory=threading.Event)

    def since(self) -> float:
        return {"ringing": self.arrived_at, "menu": self.arrived_at,
                "waiting": self.queued_at or self.arrived_at,
                "talking": self.staff_answered_at or self.arrived_at}.get(self.state,
                                                                          time.time())
