"""The phone menu: checking an owner's menu, and one caller's walk through it (appliance.ivr.menu)."""

from __future__ import annotations

import json

import pytest
import yaml

from appliance.ivr.menu import (DEFAULT_INVALID_PROMPT, GOODBYE_GRACE_S, Hangup, Menu, MenuError,
                                MenuOption, MenuSession, Play, Route, validate_menu)

GREETING = "Thank you for calling. For sales press 1, for support press 2."


def make_menu(**fields) -> Menu:
    data = {"name": "main", "greeting": GREETING, "options": {"1": "sales", "2": "support"},
            "timeout_s": 6, "retries": 2}
    data.update(fields)
    return validate_menu(data)


def problems_of(data, queues=None) -> list[str]:
    with pytest.raises(MenuError) as info:
        validate_menu(data, queues=queues)
    return info.value.problems


# -- a caller in the menu -------------------------------------------------------------

def test_caller_first_hears_the_greeting():
    assert MenuSession(make_menu()).start() == Play(GREETING)


def test_pressing_an_option_key_routes_to_its_queue():
    session = MenuSession(make_menu())
    session.start()
    assert session.digit("2") == Route("support")
    assert (session.finished, session.last_digit, session.chosen_key) == (True, "2", "2")


def test_a_wrong_key_says_sorry_and_repeats_the_greeting():
    session = MenuSession(make_menu())
    session.start()
    assert session.digit("7") == Play(f"{DEFAULT_INVALID_PROMPT} {GREETING}")
    assert session.digit("1") == Route("sales")
    assert session.chosen_key == "1"


def test_no_key_repeats_the_greeting_up_to_retries_times_then_says_goodbye_and_hangs_up():
    menu = make_menu(retries=2, goodbye_prompt="Goodbye.")
    session = MenuSession(menu)
    session.start()
    assert session.timeout_s == 6
    assert session.timeout() == Play(GREETING)
    assert session.timeout() == Play(GREETING)
    assert session.timeout() == Play("Goodbye.")
    assert session.timeout_s == GOODBYE_GRACE_S  # hang up soon after the goodbye has played
    assert session.timeout() == Hangup("no_choice")
    assert session.finished


def test_no_key_goes_to_the_default_queue_when_the_menu_has_one():
    session = MenuSession(make_menu(retries=1, default_queue="support"))
    session.start()
    assert session.timeout() == Play(GREETING)
    assert session.timeout() == Route("support")
    assert (session.finished, session.chosen_key) == (True, None)


def test_wrong_keys_and_silences_share_the_same_number_of_repeats():
    session = MenuSession(make_menu(retries=2))
    session.start()
    assert isinstance(session.digit("9"), Play)
    assert session.timeout() == Play(GREETING)
    assert session.digit("9").text == make_menu().goodbye_prompt


def test_zero_retries_means_one_chance():
    session = MenuSession(make_menu(retries=0, default_queue="sales"))
    session.start()
    assert session.timeout() == Route("sales")


def test_a_valid_key_during_the_goodbye_still_routes_the_caller():
    session = MenuSession(make_menu(retries=0))
    session.start()
    session.timeout()  # goodbye
    assert session.digit("1") == Route("sales")


def test_a_wrong_key_during_the_goodbye_hangs_up():
    session = MenuSession(make_menu(retries=0))
    session.start()
    session.timeout()
    assert session.digit("5") == Hangup("no_choice")


def test_a_finished_session_ignores_further_keys_and_timeouts():
    session = MenuSession(make_menu())
    session.start()
    session.digit("1")
    assert session.digit("2") is None
    assert session.timeout() is None
    assert session.chosen_key == "1"


def test_star_and_hash_can_be_options():
    session = MenuSession(make_menu(options={"*": "sales", "#": "support"}))
    assert session.digit("#") == Route("support")


def test_extra_prompts_are_every_text_the_session_can_play_besides_the_greeting():
    menu = make_menu(retries=1)
    played = set()
    for keys in (["7", "8"], [None, None]):  # wrong keys; silences
        session = MenuSession(menu)
        for key in keys:
            action = session.timeout() if key is None else session.digit(key)
            played.add(action.text)
    assert played - {menu.greeting} == set(menu.extra_prompts())


# -- the menu definition --------------------------------------------------------------

def test_to_dict_and_from_dict_round_trip_through_json():
    menu = make_menu(options={"#": "support", "1": "sales", "0": "operator"},
                     default_queue="operator", invalid_prompt="Oops.", timeout_s=4.5)
    again = Menu.from_dict(json.loads(json.dumps(menu.to_dict())))
    assert again == menu
    assert list(menu.to_dict()["options"]) == ["0", "1", "#"]


def test_defaults_fill_in_missing_optional_fields():
    menu = validate_menu({"greeting": "Hello.", "options": {"1": "sales"}})
    assert (menu.name, menu.timeout_s, menu.retries, menu.default_queue) == ("main", 6.0, 2, None)
    assert menu.invalid_prompt == "Sorry, that is not an option."


def test_option_list_is_in_keypad_order():
    menu = make_menu(options={"#": "c", "2": "b", "0": "a"})
    assert menu.option_list() == [MenuOption("0", "a"), MenuOption("2", "b"), MenuOption("#", "c")]
    assert menu.queues() == {"a", "b", "c"}


def test_yaml_number_keys_are_accepted():
    menu = validate_menu(yaml.safe_load("greeting: Hi\noptions:\n  1: sales\n  2: support\n"))
    assert menu.options == {"1": "sales", "2": "support"}


def test_form_rows_with_text_numbers_are_accepted():
    menu = validate_menu({"greeting": " Hello   there. ", "timeout_s": "8", "retries": "3",
                          "options": [{"key": "1", "queue": " sales "},
                                      {"key": "#", "queue": "support"}]})
    assert (menu.greeting, menu.timeout_s, menu.retries) == ("Hello there.", 8.0, 3)
    assert menu.options == {"1": "sales", "#": "support"}


def test_an_option_to_a_queue_that_does_not_exist_is_explained():
    assert problems_of({"greeting": "Hi", "options": {"1": "sales", "2": "billing"}},
                       queues=["sales", "support"]) == [
        "Key 2 goes to queue 'billing', which does not exist (queues: sales, support)."]


def test_a_default_queue_that_does_not_exist_is_explained():
    assert problems_of({"greeting": "Hi", "options": {"1": "sales"}, "default_queue": "ops"},
                       queues=["sales"]) == [
        "The default queue 'ops' does not exist (queues: sales)."]


def test_keys_must_be_phone_keys():
    problems = problems_of({"greeting": "Hi", "options": {"1": "sales", "12": "support",
                                                          "A": "billing"}})
    assert problems == ["'12' is not a phone key; keys must be one of 0-9, * or #.",
                        "'A' is not a phone key; keys must be one of 0-9, * or #."]


def test_a_key_used_twice_in_form_rows_is_explained():
    assert problems_of({"greeting": "Hi", "options": [{"key": "1", "queue": "sales"},
                                                       {"key": "1", "queue": "support"}]}) == [
        "Key 1 is used twice (for 'sales' and 'support'); each key can go to one queue only."]


def test_an_option_without_a_queue_is_explained():
    assert problems_of({"greeting": "Hi", "options": {"1": ""}}) == [
        "Key 1 does not say which queue it goes to."]


def test_a_missing_greeting_is_explained():
    assert problems_of({"greeting": "  ", "options": {"1": "sales"}}) == [
        "The greeting is missing; write what callers should hear."]


def test_a_menu_nobody_can_get_through_is_refused():
    assert problems_of({"greeting": "Hi", "options": {}}) == [
        "The menu has no options and no default queue, so callers could never reach anyone; "
        "say which key goes to which queue, e.g. 1 for sales."]


def test_a_menu_with_only_a_default_queue_is_fine():
    menu = validate_menu({"greeting": "Please hold.", "default_queue": "sales", "retries": 0})
    assert MenuSession(menu).timeout() == Route("sales")


def test_bad_numbers_are_explained_in_plain_words():
    assert problems_of({"greeting": "Hi", "options": {"1": "s"}, "timeout_s": "soon",
                        "retries": 2.5}) == [
        "The time to wait for a key should be a number of seconds, like 6 (got 'soon').",
        "The number of repeats should be a whole number like 2 (got 2.5)."]
    assert problems_of({"greeting": "Hi", "options": {"1": "s"}, "timeout_s": 0,
                        "retries": 50}) == [
        "The time to wait for a key should be between 1 and 60 seconds (got 0).",
        "The number of repeats should be between 0 and 10 (got 50)."]


def test_misspelt_fields_are_reported_instead_of_ignored():
    problems = problems_of({"greting": "Hi", "options": {"1": "sales"}})
    assert problems[0].startswith("The menu has fields this version does not know: greting")
    assert problems[1] == "The greeting is missing; write what callers should hear."


def test_a_greeting_that_is_far_too_long_is_refused():
    problems = problems_of({"greeting": "word " * 300, "options": {"1": "sales"}})
    assert problems == ["The greeting is too long (1499 characters); keep it under 1000."]


def test_something_that_is_not_a_menu_at_all_is_explained():
    assert problems_of(["greeting", "options"]) == [
        "The menu should be a set of named fields (name, greeting, options), not "
        "['greeting', 'options']."]


def test_menu_error_message_joins_every_problem():
    with pytest.raises(MenuError, match=r"greeting is missing.*'x' is not a phone key"):
        validate_menu({"options": {"x": "sales"}})


def test_building_a_menu_in_code_with_a_bad_key_is_refused():
    with pytest.raises(MenuError, match="'10' is not a phone key"):
        Menu(name="m", greeting="Hi", options={"10": "sales"})
