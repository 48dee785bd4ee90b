"""The routing core of the call centre: which waiting call rings which staff member's headset.

Pure decision code: no I/O, no clock, no threads. Every method takes ``now`` (Unix seconds) and
returns the decisions the engine must carry out (``Offer`` = ring this headset for this call,
``CancelOffer`` = stop ringing it). The engine serialises calls into the router under its lock.

Rules:
- One queue per skill name. A call waiting in queue Q may ring any *available* staff member
  who has skill Q; among those, the one idle longest (since the end of their last call or
  wrap-up, or since they became available) gets it.
- Calls are served oldest first: first come first served inside a queue, and when one staff
  member frees up and several of their queues have callers, the caller who has waited longest.
- An unanswered offer (``offer_timed_out``) puts the staff member on break with the reason
  "no answer" (they must make themselves available again) and the call, keeping its place,
  goes to the next best person.
- After a call ends, a staff member is in wrap-up for ``wrapup_s`` seconds (0 = straight back
  to available); ``tick(now)`` ends wrap-ups that are over, ``wrapup_done`` ends one early.
- Asking for break/offline while talking takes effect when the call (and its wrap-up) ends.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Hashable, Iterable, Union

STAFF_STATES = ("available", "ringing", "talking", "wrap-up", "break", "offline")
CHOSEN_STATES = ("available", "break", "offline")  # states staff members pick themselves
NO_ANSWER = "no answer"


class RoutingError(Exception):
    """A request the router cannot carry out; ``str(e)`` is a sentence for a person."""


@dataclass(frozen=True)
class Offer:
    """Ring ``staff_id``'s headset for ``call_id``."""

    call_id: Hashable
    staff_id: str


@dataclass(frozen=True)
class CancelOffer:
    """Stop ringing ``staff_id``'s headset for ``call_id``."""

    call_id: Hashable
    staff_id: str


Decision = Union[Offer, CancelOffer]


@dataclass
class _Staff:
    id: str
    name: str
    skills: frozenset[str]
    order: int  # tie-break between equally idle people: who was added first
    state: str = "offline"
    call_id: Hashable | None = None  # the call ringing their headset or being talked to
    idle_since: float | None = None  # set while available
    reason: str | None = None  # why they are on break (e.g. "no answer")
    wrapup_until: float | None = None
    after_call: str | None = None  # "break"/"offline" asked for during a call


@dataclass
class _Call:
    id: Hashable
    queue: str
    enqueued_at: float
    order: int  # tie-break between calls enqueued at the same instant
    staff_id: str | None = None  # whose headset rings, or who is talking
    talking: bool = False

    @property
    def waiting(self) -> bool:
        return self.staff_id is None


class Router:
    """Queues, staff states and the longest-idle, oldest-call-first routing rule."""

    def __init__(self, wrapup_s: float = 0.0, queues: Iterable[str] = ()):
        if wrapup_s < 0:
            raise RoutingError(f"The wrap-up time cannot be negative (got {wrapup_s} seconds).")
        self.wrapup_s = float(wrapup_s)
        self._staff: dict[str, _Staff] = {}
        self._calls: dict[Hashable, _Call] = {}
        self._queues: set[str] = set(queues)
        self._counter = itertools.count()

    # -- staff ---------------------------------------------------------------------
    def add_staff(self, staff_id: str, name: str, skills: Iterable[str]) -> None:
        """Register a staff member; they start "offline" until ``set_state(..., "available")``."""
        if not staff_id:
            raise RoutingError("A staff member needs an id.")
        if staff_id in self._staff:
            raise RoutingError(f"There is already a staff member with the id {staff_id!r} "
                               f"({self._staff[staff_id].name}).")
        if isinstance(skills, str):
            raise RoutingError(f"The skills of {name} should be a list of queue names, "
                               f"not the single text {skills!r}.")
        skill_set = frozenset(skills)
        self._staff[staff_id] = _Staff(staff_id, name or staff_id, skill_set,
                                       next(self._counter))
        self._queues |= skill_set

    def set_state(self, staff_id: str, state: str, now: float, *,
                  reason: str | None = None) -> list[Decision]:
        """A staff member makes themselves available, takes a break or goes offline.

        While ringing, break/offline cancels the offer and the call goes to the next best person.
        While talking, break/offline is remembered and applied when the call and its wrap-up end;
        "available" cancels such a request. In wrap-up, "available" ends the wrap-up early.
        """
        staff = self._get_staff(staff_id)
        if state not in CHOSEN_STATES:
            raise RoutingError(f"{staff.name} cannot be put in the state {state!r}; "
                               "choose available, break or offline.")
        if staff.state == "talking":
            staff.after_call = None if state == "available" else state
            staff.reason = reason if state == "break" else None
            return []
        decisions: list[Decision] = []
        if staff.state == "ringing":
            if state == "available":
                return []
            decisions.append(self._withdraw_offer(staff))
        if state == "available":
            if staff.state != "available":
                self._make_available(staff, now)
        else:
            staff.state, staff.reason = state, (reason if state == "break" else None)
            staff.idle_since = staff.wrapup_until = staff.after_call = None
        return decisions + self._dispatch()

    def staff_answered(self, staff_id: str, now: float) -> list[Decision]:
        """The staff member picked up their ringing headset: they are now talking."""
        staff = self._get_staff(staff_id)
        if staff.state != "ringing":
            raise RoutingError(f"{staff.name}'s headset is not ringing (they are {staff.state}).")
        call = self._calls[staff.call_id]
        call.talking = True
        staff.state, staff.idle_since = "talking", None
        return []

    def offer_timed_out(self, staff_id: str, now: float) -> list[Decision]:
        """Nobody picked up: the staff member goes on break ("no answer"), the call is re-offered."""
        staff = self._get_staff(staff_id)
        if staff.state != "ringing":
            raise RoutingError(f"{staff.name}'s headset is not ringing (they are {staff.state}).")
        cancel = self._withdraw_offer(staff)
        staff.state, staff.reason, staff.idle_since = "break", NO_ANSWER, None
        return [cancel] + self._dispatch()

    def wrapup_done(self, staff_id: str, now: float) -> list[Decision]:
        """End a staff member's wrap-up (time is up, or they are ready). No-op if not in wrap-up."""
        staff = self._get_staff(staff_id)
        if staff.state != "wrap-up":
            return []
        self._after_wrapup(staff, now)
        return self._dispatch()

    def tick(self, now: float) -> list[Decision]:
        """End every wrap-up whose time is over and route any calls that can now be offered."""
        ended = [s for s in self._staff.values()
                 if s.state == "wrap-up" and s.wrapup_until is not None and s.wrapup_until <= now]
        for staff in sorted(ended, key=lambda s: (s.wrapup_until, s.order)):
            self._after_wrapup(staff, staff.wrapup_until)
        return self._dispatch() if ended else []

    def next_deadline(self) -> float | None:
        """When the next wrap-up ends (for the engine to wake then), or None."""
        times = [s.wrapup_until for s in self._staff.values()
                 if s.state == "wrap-up" and s.wrapup_until is not None]
        return min(times) if times else None

    # -- calls ---------------------------------------------------------------------
    def enqueue(self, call_id: Hashable, queue: str, now: float) -> list[Decision]:
        """A caller chose ``queue``: offer the call now if someone is free, else it waits."""
        if call_id in self._calls:
            raise RoutingError(f"Call {call_id} is already in the {self._calls[call_id].queue} "
                               "queue.")
        if not queue or not isinstance(queue, str):
            raise RoutingError(f"Call {call_id} needs a queue name, not {queue!r}.")
        self._calls[call_id] = _Call(call_id, queue, now, next(self._counter))
        self._queues.add(queue)
        return self._dispatch()

    def call_ended(self, call_id: Hashable, now: float) -> list[Decision]:
        """The caller hung up (or the call was ended) in the queue, while ringing, or talking."""
        call = self._calls.pop(call_id, None)
        if call is None:
            raise RoutingError(f"Call {call_id} is not waiting or connected (already ended?).")
        if call.staff_id is None:
            return []
        staff = self._staff[call.staff_id]
        staff.call_id = None
        if not call.talking:  # abandoned while ringing: back to available, idle time kept
            staff.state = "available"
            return [CancelOffer(call.id, staff.id)] + self._dispatch()
        if self.wrapup_s > 0:
            staff.state, staff.wrapup_until = "wrap-up", now + self.wrapup_s
            return []
        self._after_wrapup(staff, now)
        return self._dispatch()

    # -- what is going on --------------------------------------------------------
    def staff_state(self, staff_id: str) -> str:
        return self._get_staff(staff_id).state

    def snapshot(self, now: float) -> dict:
        """Staff and queues as plain data (JSON-able when call ids are)."""
        staff = [{"id": s.id, "name": s.name, "state": s.state, "skills": sorted(s.skills),
                  "call_id": s.call_id,
                  "idle_s": (max(0.0, now - s.idle_since)
                             if s.state == "available" and s.idle_since is not None else None),
                  "reason": s.reason if s.state == "break" else self._pending_reason(s),
                  "wrapup_left_s": (max(0.0, s.wrapup_until - now)
                                    if s.state == "wrap-up" and s.wrapup_until else None)}
                 for s in sorted(self._staff.values(), key=lambda s: s.order)]
        queues = []
        for name in sorted(self._queues):
            calls = [c for c in self._ordered_calls() if c.queue == name and not c.talking]
            queues.append({
                "name": name,
                "waiting": len(calls),
                "longest_wait_s": max((now - c.enqueued_at for c in calls), default=0.0),
                "calls": [{"call_id": c.id, "wait_s": now - c.enqueued_at,
                           "offered_to": c.staff_id} for c in calls],
                "staff_available": sum(1 for s in self._staff.values()
                                       if s.state == "available" and name in s.skills),
            })
        return {"staff": staff, "queues": queues}

    # -- inside --------------------------------------------------------------------
    def _get_staff(self, staff_id: str) -> _Staff:
        staff = self._staff.get(staff_id)
        if staff is None:
            known = ", ".join(sorted(self._staff)) or "none"
            raise RoutingError(f"There is no staff member with the id {staff_id!r} "
                               f"(known: {known}).")
        return staff

    @staticmethod
    def _pending_reason(staff: _Staff) -> str | None:
        return f"{staff.after_call} after this call" if staff.after_call else None

    def _make_available(self, staff: _Staff, now: float) -> None:
        staff.state, staff.idle_since, staff.reason = "available", now, None
        staff.wrapup_until = staff.after_call = None

    def _after_wrapup(self, staff: _Staff, now: float) -> None:
        pending, reason = staff.after_call, staff.reason
        if pending:
            staff.state, staff.reason = pending, (reason if pending == "break" else None)
            staff.idle_since = staff.wrapup_until = staff.after_call = None
        else:
            self._make_available(staff, now)

    def _withdraw_offer(self, staff: _Staff) -> CancelOffer:
        call = self._calls[staff.call_id]
        call.staff_id = None
        staff.call_id = None
        return CancelOffer(call.id, staff.id)

    def _ordered_calls(self) -> list[_Call]:
        return sorted(self._calls.values(), key=lambda c: (c.enqueued_at, c.order))

    def _dispatch(self) -> list[Decision]:
        """Offer waiting calls, oldest first, each to the longest-idle available person for it."""
        decisions: list[Decision] = []
        for call in self._ordered_calls():
            if not call.waiting:
                continue
            candidates = [s for s in self._staff.values()
                          if s.state == "available" and call.queue in s.skills]
            if not candidates:
                continue
            staff = min(candidates, key=lambda s: (s.idle_since, s.order))
            staff.state, staff.call_id = "ringing", call.id
            call.staff_id = staff.id
            decisions.append(Offer(call.id, staff.id))
        return decisions
