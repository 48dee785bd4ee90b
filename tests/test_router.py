"""How the routing core decides who gets which call (appliance.acd.router).

Times are plain numbers of seconds; the router never reads a clock.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.acd.router import CancelOffer, Offer, Router, RoutingError


def make_router(wrapup_s: float = 0.0, **staff: set[str]) -> Router:
    """A router with the given staff (id -> skills), all offline."""
    router = Router(wrapup_s=wrapup_s)
    for staff_id, skills in staff.items():
        router.add_staff(staff_id, staff_id.title(), skills)
    return router


def state(router: Router, staff_id: str) -> str:
    return router.staff_state(staff_id)


def staff_entry(router: Router, staff_id: str, now: float) -> dict:
    return next(s for s in router.snapshot(now)["staff"] if s["id"] == staff_id)


def queue_entry(router: Router, name: str, now: float) -> dict:
    return next(q for q in router.snapshot(now)["queues"] if q["name"] == name)


# -- offering calls -------------------------------------------------------------------

def test_call_is_offered_at_once_when_someone_is_available():
    router = make_router(alice={"sales"})
    router.set_state("alice", "available", 0)
    assert router.enqueue(1, "sales", 10) == [Offer(1, "alice")]
    assert state(router, "alice") == "ringing"


def test_new_staff_start_offline_and_get_no_calls():
    router = make_router(alice={"sales"})
    assert state(router, "alice") == "offline"
    assert router.enqueue(1, "sales", 10) == []


def test_call_waits_when_nobody_is_available_and_is_offered_when_someone_becomes_available():
    router = make_router(alice={"sales"})
    assert router.enqueue(1, "sales", 10) == []
    assert queue_entry(router, "sales", 15)["waiting"] == 1
    assert router.set_state("alice", "available", 20) == [Offer(1, "alice")]
    assert queue_entry(router, "sales", 21)["calls"][0]["offered_to"] == "alice"


def test_longest_idle_staff_member_gets_the_call():
    router = make_router(alice={"sales"}, bob={"sales"}, carol={"sales"})
    router.set_state("bob", "available", 0)
    router.set_state("alice", "available", 5)
    router.set_state("carol", "available", 3)
    assert router.enqueue(1, "sales", 10) == [Offer(1, "bob")]
    assert router.enqueue(2, "sales", 11) == [Offer(2, "carol")]
    assert router.enqueue(3, "sales", 12) == [Offer(3, "alice")]


def test_idle_time_counts_from_the_end_of_the_last_call():
    router = make_router(alice={"sales"}, bob={"sales"})
    router.set_state("alice", "available", 0)
    router.set_state("bob", "available", 1)
    router.enqueue(1, "sales", 10)  # alice (idle longest)
    router.staff_answered("alice", 11)
    router.call_ended(1, 20)  # alice idle again since 20, bob still since 1
    assert router.enqueue(2, "sales", 30) == [Offer(2, "bob")]
    router.staff_answered("bob", 31)
    router.call_ended(2, 40)  # bob idle since 40, alice since 20
    assert router.enqueue(3, "sales", 50) == [Offer(3, "alice")]


def test_equally_idle_staff_are_chosen_in_the_order_they_were_added():
    router = make_router(alice={"sales"}, bob={"sales"})
    router.set_state("bob", "available", 0)
    router.set_state("alice", "available", 0)
    assert router.enqueue(1, "sales", 10) == [Offer(1, "alice")]


def test_staff_only_get_calls_from_queues_matching_their_skills():
    router = make_router(alice={"sales"}, bob={"support"})
    router.set_state("alice", "available", 0)  # idle longest, but cannot do support
    router.set_state("bob", "available", 5)
    assert router.enqueue(1, "support", 10) == [Offer(1, "bob")]
    assert router.enqueue(2, "support", 11) == []
    assert state(router, "alice") == "available"


def test_staff_with_several_skills_serve_every_matching_queue():
    router = make_router(carol={"sales", "support"})
    router.set_state("carol", "available", 0)
    assert router.enqueue(1, "support", 10) == [Offer(1, "carol")]
    router.staff_answered("carol", 11)
    router.call_ended(1, 12)
    assert router.enqueue(2, "sales", 13) == [Offer(2, "carol")]


def test_calls_in_one_queue_are_served_first_come_first_served():
    router = make_router(alice={"sales"})
    for call_id, t in ((1, 10), (2, 11), (3, 12)):
        router.enqueue(call_id, "sales", t)
    assert router.set_state("alice", "available", 20) == [Offer(1, "alice")]
    router.staff_answered("alice", 21)
    assert router.call_ended(1, 30) == [Offer(2, "alice")]
    router.staff_answered("alice", 31)
    assert router.call_ended(2, 40) == [Offer(3, "alice")]


def test_one_person_freeing_up_takes_the_longest_waiting_call_among_their_queues():
    router = make_router(carol={"sales", "support"})
    router.enqueue(1, "sales", 12)
    router.enqueue(2, "support", 10)  # waited longer, in the other queue
    router.enqueue(3, "sales", 11)
    assert router.set_state("carol", "available", 20) == [Offer(2, "carol")]
    router.staff_answered("carol", 21)
    assert router.call_ended(2, 30) == [Offer(3, "carol")]


def test_calls_in_queues_a_person_does_not_serve_do_not_hold_up_their_queues():
    router = make_router(alice={"sales"})
    router.enqueue(1, "support", 5)  # nobody can take it
    router.enqueue(2, "sales", 10)
    assert router.set_state("alice", "available", 20) == [Offer(2, "alice")]
    assert queue_entry(router, "support", 20)["waiting"] == 1


def test_several_waiting_calls_go_to_several_people_becoming_free_at_once():
    router = make_router(alice={"sales"}, bob={"sales"}, wrapup_s=5)
    router.set_state("alice", "available", 0)
    router.set_state("bob", "available", 1)
    router.enqueue(1, "sales", 2)
    router.enqueue(2, "sales", 2)
    router.staff_answered("alice", 3)
    router.staff_answered("bob", 3)
    router.enqueue(3, "sales", 4)
    router.enqueue(4, "sales", 5)
    router.call_ended(2, 10)  # bob's wrap-up ends at 15
    router.call_ended(1, 11)  # alice's at 16
    assert router.tick(20) == [Offer(3, "bob"), Offer(4, "alice")]


def test_a_ringing_person_is_not_offered_a_second_call():
    router = make_router(alice={"sales"})
    router.set_state("alice", "available", 0)
    router.enqueue(1, "sales", 10)
    assert router.enqueue(2, "sales", 11) == []
    assert queue_entry(router, "sales", 12)["waiting"] == 2


# -- answering and no answer ------------------------------------------------------------

def test_staff_answering_puts_them_in_talking_and_the_call_leaves_the_queue_count():
    router = make_router(alice={"sales"})
    router.set_state("alice", "available", 0)
    router.enqueue(1, "sales", 10)
    assert router.staff_answered("alice", 12) == []
    assert state(router, "alice") == "talking"
    assert staff_entry(router, "alice", 13)["call_id"] == 1
    assert queue_entry(router, "sales", 13)["waiting"] == 0


def test_answering_a_headset_that_is_not_ringing_is_an_error():
    router = make_router(alice={"sales"})
    router.set_state("alice", "available", 0)
    with pytest.raises(RoutingError, match="Alice's headset is not ringing"):
        router.staff_answered("alice", 1)


def test_no_answer_sends_the_person_on_break_and_offers_the_call_to_the_next_best():
    router = make_router(alice={"sales"}, bob={"sales"})
    router.set_state("alice", "available", 0)
    router.set_state("bob", "available", 1)
    router.enqueue(1, "sales", 10)
    assert router.offer_timed_out("alice", 30) == [CancelOffer(1, "alice"), Offer(1, "bob")]
    alice = staff_entry(router, "alice", 31)
    assert (alice["state"], alice["reason"], alice["call_id"]) == ("break", "no answer", None)


def test_a_person_who_missed_a_call_gets_no_more_calls_until_they_are_available_again():
    router = make_router(alice={"sales"})
    router.set_state("alice", "available", 0)
    router.enqueue(1, "sales", 10)
    assert router.offer_timed_out("alice", 30) == [CancelOffer(1, "alice")]
    assert router.enqueue(2, "sales", 31) == []
    assert router.set_state("alice", "available", 40) == [Offer(1, "alice")]
    assert staff_entry(router, "alice", 41)["reason"] is None


def test_a_re_offered_call_keeps_its_place_in_the_queue():
    router = make_router(alice={"sales"}, bob={"sales"})
    router.set_state("alice", "available", 0)
    router.enqueue(1, "sales", 10)  # rings alice
    router.enqueue(2, "sales", 11)  # waits
    router.offer_timed_out("alice", 30)  # call 1 back in the queue, ahead of call 2
    assert router.set_state("bob", "available", 31) == [Offer(1, "bob")]
    calls = queue_entry(router, "sales", 40)["calls"]
    assert [c["call_id"] for c in calls] == [1, 2]
    assert calls[0]["wait_s"] == 30


def test_offer_timed_out_for_someone_not_ringing_is_an_error():
    router = make_router(alice={"sales"})
    with pytest.raises(RoutingError, match="Alice's headset is not ringing .*offline"):
        router.offer_timed_out("alice", 1)


# -- callers hanging up -----------------------------------------------------------------

def test_caller_hanging_up_in_the_queue_leaves_it():
    router = make_router(alice={"sales"})
    router.enqueue(1, "sales", 10)
    router.enqueue(2, "sales", 11)
    assert router.call_ended(1, 15) == []
    assert router.set_state("alice", "available", 20) == [Offer(2, "alice")]


def test_caller_hanging_up_while_ringing_cancels_the_offer_and_keeps_the_persons_idle_time():
    router = make_router(alice={"sales"}, bob={"sales"})
    router.set_state("alice", "available", 0)
    router.set_state("bob", "available", 5)
    router.enqueue(1, "sales", 10)  # rings alice
    assert router.call_ended(1, 12) == [CancelOffer(1, "alice")]
    assert state(router, "alice") == "available"
    assert staff_entry(router, "alice", 20)["idle_s"] == 20
    assert router.enqueue(2, "sales", 21) == [Offer(2, "alice")]  # still idle longest


def test_caller_hanging_up_while_ringing_frees_the_person_for_the_next_waiting_call():
    router = make_router(alice={"sales"})
    router.set_state("alice", "available", 0)
    router.enqueue(1, "sales", 10)
    router.enqueue(2, "sales", 11)
    assert router.call_ended(1, 12) == [CancelOffer(1, "alice"), Offer(2, "alice")]


def test_call_ending_while_talking_puts_the_person_straight_back_to_available_without_wrapup():
    router = make_router(alice={"sales"})
    router.set_state("alice", "available", 0)
    router.enqueue(1, "sales", 10)
    router.staff_answered("alice", 11)
    assert router.call_ended(1, 50) == []
    assert state(router, "alice") == "available"
    assert staff_entry(router, "alice", 60)["idle_s"] == 10


def test_ending_an_unknown_call_is_an_error():
    router = make_router(alice={"sales"})
    router.enqueue(1, "sales", 10)
    router.call_ended(1, 11)
    with pytest.raises(RoutingError, match="Call 1 is not waiting or connected"):
        router.call_ended(1, 12)


# -- wrap-up --------------------------------------------------------------------------

def test_call_ending_while_talking_starts_wrapup_when_configured():
    router = make_router(alice={"sales"}, wrapup_s=30)
    router.set_state("alice", "available", 0)
    router.enqueue(1, "sales", 10)
    router.staff_answered("alice", 11)
    router.enqueue(2, "sales", 12)
    assert router.call_ended(1, 50) == []
    assert state(router, "alice") == "wrap-up"
    assert staff_entry(router, "alice", 60)["wrapup_left_s"] == 20
    assert router.next_deadline() == 80


def test_tick_ends_wrapup_when_its_time_is_over_and_offers_the_next_call():
    router = make_router(alice={"sales"}, wrapup_s=30)
    router.set_state("alice", "available", 0)
    router.enqueue(1, "sales", 10)
    router.staff_answered("alice", 11)
    router.call_ended(1, 50)
    router.enqueue(2, "sales", 55)
    assert router.tick(79.9) == []
    assert state(router, "alice") == "wrap-up"
    assert router.tick(80.2) == [Offer(2, "alice")]
    assert router.next_deadline() is None


def test_idle_time_after_wrapup_counts_from_the_end_of_wrapup():
    router = make_router(alice={"sales"}, bob={"sales"}, wrapup_s=30)
    router.set_state("alice", "available", 0)
    router.enqueue(1, "sales", 10)
    router.staff_answered("alice", 11)
    router.call_ended(1, 20)
    router.set_state("bob", "available", 40)
    router.tick(60)  # alice's wrap-up ended at 50, so bob (available since 40) is idle longer
    assert staff_entry(router, "alice", 70)["idle_s"] == 20
    assert router.enqueue(2, "sales", 70) == [Offer(2, "bob")]


def test_wrapup_done_ends_wrapup_early_and_offers_a_waiting_call():
    router = make_router(alice={"sales"}, wrapup_s=30)
    router.set_state("alice", "available", 0)
    router.enqueue(1, "sales", 10)
    router.staff_answered("alice", 11)
    router.enqueue(2, "sales", 12)
    router.call_ended(1, 20)
    assert router.wrapup_done("alice", 25) == [Offer(2, "alice")]


def test_wrapup_done_for_someone_not_in_wrapup_changes_nothing():
    router = make_router(alice={"sales"}, wrapup_s=30)
    router.set_state("alice", "available", 0)
    assert router.wrapup_done("alice", 5) == []
    assert staff_entry(router, "alice", 10)["idle_s"] == 10


# -- staff changing state -------------------------------------------------------------

def test_going_on_break_while_ringing_cancels_the_offer_and_re_offers_the_call():
    router = make_router(alice={"sales"}, bob={"sales"})
    router.set_state("alice", "available", 0)
    router.set_state("bob", "available", 1)
    router.enqueue(1, "sales", 10)
    assert router.set_state("alice", "break", 12) == [CancelOffer(1, "alice"), Offer(1, "bob")]


def test_going_offline_during_a_call_takes_effect_when_the_call_ends():
    router = make_router(alice={"sales"})
    router.set_state("alice", "available", 0)
    router.enqueue(1, "sales", 10)
    router.staff_answered("alice", 11)
    router.enqueue(2, "sales", 12)
    assert router.set_state("alice", "offline", 15) == []
    assert staff_entry(router, "alice", 16)["state"] == "talking"
    assert staff_entry(router, "alice", 16)["reason"] == "offline after this call"
    assert router.call_ended(1, 20) == []
    assert state(router, "alice") == "offline"


def test_asking_for_a_break_during_wrapup_starts_it_at_once():
    router = make_router(alice={"sales"}, wrapup_s=30)
    router.set_state("alice", "available", 0)
    router.enqueue(1, "sales", 10)
    router.staff_answered("alice", 11)
    router.call_ended(1, 20)
    router.set_state("alice", "break", 21, reason="lunch")
    router.enqueue(2, "sales", 22)
    assert router.tick(100) == []
    assert staff_entry(router, "alice", 100)["reason"] == "lunch"


def test_making_oneself_available_again_keeps_the_idle_time():
    router = make_router(alice={"sales"})
    router.set_state("alice", "available", 0)
    router.set_state("alice", "available", 50)
    assert staff_entry(router, "alice", 60)["idle_s"] == 60


def test_unknown_state_names_get_a_clear_error():
    router = make_router(alice={"sales"})
    with pytest.raises(RoutingError, match="Alice cannot be put in the state 'lunch'; "
                                           "choose available, break or offline"):
        router.set_state("alice", "lunch", 0)
    with pytest.raises(RoutingError, match="'talking'"):
        router.set_state("alice", "talking", 0)


def test_unknown_staff_ids_get_a_clear_error_naming_the_known_ones():
    router = make_router(alice={"sales"}, bob={"support"})
    with pytest.raises(RoutingError, match=r"no staff member with the id 'zed' \(known: alice, bob\)"):
        router.set_state("zed", "available", 0)
    for method in (router.staff_answered, router.offer_timed_out, router.wrapup_done):
        with pytest.raises(RoutingError, match="'zed'"):
            method("zed", 0)


def test_adding_the_same_staff_member_twice_is_an_error():
    router = make_router(alice={"sales"})
    with pytest.raises(RoutingError, match="already a staff member with the id 'alice'"):
        router.add_staff("alice", "Alice Again", {"support"})


def test_skills_given_as_one_text_instead_of_a_list_are_refused():
    router = Router()
    with pytest.raises(RoutingError, match="should be a list of queue names"):
        router.add_staff("alice", "Alice", "sales")


def test_enqueueing_the_same_call_twice_is_an_error():
    router = make_router(alice={"sales"})
    router.enqueue(1, "sales", 10)
    with pytest.raises(RoutingError, match="Call 1 is already in the sales queue"):
        router.enqueue(1, "support", 11)


def test_negative_wrapup_time_is_refused():
    with pytest.raises(RoutingError, match="wrap-up time cannot be negative"):
        Router(wrapup_s=-1)


# -- snapshot -------------------------------------------------------------------------

def test_snapshot_lists_staff_and_every_queue_with_waiting_calls_oldest_first():
    router = Router(queues=["billing"])
    router.add_staff("alice", "Alice", {"sales"})
    router.add_staff("bob", "Bob", {"support", "sales"})
    router.set_state("alice", "available", 0)
    router.set_state("bob", "break", 0, reason="lunch")
    router.enqueue(7, "sales", 10)  # rings alice
    router.enqueue(8, "sales", 12)
    router.enqueue(9, "support", 15)
    snap = router.snapshot(20)
    assert snap["staff"] == [
        {"id": "alice", "name": "Alice", "state": "ringing", "skills": ["sales"], "call_id": 7,
         "idle_s": None, "reason": None, "wrapup_left_s": None},
        {"id": "bob", "name": "Bob", "state": "break", "skills": ["sales", "support"],
         "call_id": None, "idle_s": None, "reason": "lunch", "wrapup_left_s": None},
    ]
    assert snap["queues"] == [
        {"name": "billing", "waiting": 0, "longest_wait_s": 0.0, "calls": [],
         "staff_available": 0},
        {"name": "sales", "waiting": 2, "longest_wait_s": 10,
         "calls": [{"call_id": 7, "wait_s": 10, "offered_to": "alice"},
                   {"call_id": 8, "wait_s": 8, "offered_to": None}],
         "staff_available": 0},
        {"name": "support", "waiting": 1, "longest_wait_s": 5,
         "calls": [{"call_id": 9, "wait_s": 5, "offered_to": None}],
         "staff_available": 0},
    ]


# -- any sequence of events -------------------------------------------------------------

EVENTS = st.lists(st.tuples(
    st.sampled_from(["enqueue", "available", "break", "offline", "answer", "no_answer",
                     "end_call", "wrapup_done", "tick"]),
    st.integers(0, 2),  # which staff member / call
    st.sampled_from(["sales", "support"]),
    st.floats(0, 20),  # time passing before the event
), max_size=60)


@settings(max_examples=300, deadline=None)
@given(events=EVENTS, wrapup_s=st.sampled_from([0.0, 15.0]))
def test_any_sequence_of_events_keeps_the_routing_rules(events, wrapup_s):
    """The decisions tell the engine exactly who is ringing; nobody available is left idle
    while a caller they could serve waits; and the oldest caller is always served first."""
    router = make_router(wrapup_s=wrapup_s, alice={"sales"}, bob={"support"},
                         carol={"sales", "support"})
    staff_ids = ["alice", "bob", "carol"]
    ringing: dict[int, str] = {}  # call -> staff, as the engine learns it from the decisions
    live: list[int] = []
    now, next_call = 0.0, 1
    for kind, n, queue, dt in events:
        now += dt
        staff_id = staff_ids[n]
        decisions = []
        try:
            if kind == "enqueue":
                decisions = router.enqueue(next_call, queue, now)
                live.append(next_call)
                next_call += 1
            elif kind in ("available", "break", "offline"):
                decisions = router.set_state(staff_id, kind, now)
            elif kind == "answer":
                decisions = router.staff_answered(staff_id, now)
                ringing = {c: s for c, s in ringing.items() if s != staff_id}
            elif kind == "no_answer":
                decisions = router.offer_timed_out(staff_id, now)
            elif kind == "end_call" and live:
                call_id = live.pop(n % len(live))
                decisions = router.call_ended(call_id, now)
            elif kind == "wrapup_done":
                decisions = router.wrapup_done(staff_id, now)
            elif kind == "tick":
                decisions = router.tick(now)
        except RoutingError as exc:
            assert kind in ("answer", "no_answer") and "is not ringing" in str(exc)
        for d in decisions:
            if isinstance(d, Offer):
                assert d.call_id not in ringing and d.staff_id not in ringing.values()
                ringing[d.call_id] = d.staff_id
            else:
                assert ringing.pop(d.call_id) == d.staff_id
        ringing = {c: s for c, s in ringing.items() if c in live}

        snap = router.snapshot(now)
        by_id = {s["id"]: s for s in snap["staff"]}
        assert {s["call_id"]: s["id"] for s in snap["staff"] if s["state"] == "ringing"} == ringing
        for s in snap["staff"]:
            assert (s["call_id"] is not None) == (s["state"] in ("ringing", "talking"))
        for q in snap["queues"]:
            waits = [c["wait_s"] for c in q["calls"]]
            assert waits == sorted(waits, reverse=True)
            if any(c["offered_to"] is None for c in q["calls"]):
                assert not any(s["state"] == "available" and q["name"] in s["skills"]
                               for s in by_id.values())
        # whoever was just offered a call could not have taken an older waiting one instead
        calls = {c["call_id"]: (c, q["name"]) for q in snap["queues"] for c in q["calls"]}
        for d in decisions:
            if isinstance(d, Offer) and ringing.get(d.call_id) == d.staff_id:
                skills = by_id[d.staff_id]["skills"]
                assert not any(c["offered_to"] is None and name in skills
                               and c["wait_s"] > calls[d.call_id][0]["wait_s"]
                               for c, name in calls.values())
