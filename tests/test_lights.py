"""Status lights on real gpiozero LEDs over gpiozero's mock pin factory (the stand-in pins)."""

from __future__ import annotations

import threading

import pytest
from gpiozero.pins.mock import MockFactory, MockPin

from appliance.lights import (LABELS, PINS, LightsError, StatusLights, choose_pin_factory,
                              on_raspberry_pi)


class WatchedPin(MockPin):
    """A mock pin that announces every level change, so tests wait on changes, not on time."""

    changed = threading.Condition()

    def _change_state(self, value):
        did = super()._change_state(value)
        if did:
            with WatchedPin.changed:
                WatchedPin.changed.notify_all()
        return did


def wait_for_changes(pin: MockPin, count: int, timeout: float = 5.0) -> bool:
    with WatchedPin.changed:
        return WatchedPin.changed.wait_for(lambda: len(pin.states) > count, timeout=timeout)


@pytest.fixture
def factory():
    f = MockFactory(pin_class=WatchedPin)
    yield f
    f.close()


@pytest.fixture
def lights(factory):
    made: list[StatusLights] = []

    def make(pins=None, **kwargs) -> StatusLights:
        sl = StatusLights(pins, pin_factory=factory, **kwargs)
        made.append(sl)
        return sl

    yield make
    for sl in made:
        sl.close()


def level(factory: MockFactory, bcm: int) -> bool:
    return bool(factory.pin(bcm).state)


# --------------------------------------------------------------------------------------------

def test_default_pin_map_and_labels(lights):
    snap = lights().snapshot()
    assert [(s["name"], s["label"], s["pin"]) for s in snap] == [
        ("power", "Power", 17), ("line1", "Line 1", 27), ("line2", "Line 2", 22),
        ("waiting", "Callers waiting", 23), ("recording", "Recording", 24), ("fault", "Fault", 25)]
    assert all(s["mode"] == "off" and s["lit"] is False for s in snap)
    assert PINS == {"power": 17, "line1": 27, "line2": 22, "waiting": 23, "recording": 24,
                    "fault": 25}


def test_on_and_off_drive_the_pins(lights, factory):
    sl = lights()
    sl.set("power", "on")
    sl.set("recording", "on")
    assert level(factory, 17) and level(factory, 24)
    assert not level(factory, 27) and not level(factory, 25)
    sl.set("recording", "off")
    assert not level(factory, 24)
    snap = {s["name"]: s for s in sl.snapshot()}
    assert snap["power"]["mode"] == "on" and snap["power"]["lit"] is True
    assert snap["recording"]["mode"] == "off" and snap["recording"]["lit"] is False
    assert sl.mode("power") == "on"


def test_snapshot_reads_the_pin_itself(lights, factory):
    sl = lights()
    sl.set("power", "on")
    factory.pin(17).state = False  # something else pulled the pin low behind our back
    snap = {s["name"]: s for s in sl.snapshot()}
    assert snap["power"]["mode"] == "on"
    assert snap["power"]["lit"] is False


def test_blink_toggles_the_pin_in_the_background(lights, factory):
    sl = lights(blink_on=0.02, blink_off=0.02)
    pin = factory.pin(25)
    pin.clear_states()
    sl.set("fault", "blink")  # returns at once
    assert wait_for_changes(pin, 4), f"the fault light did not blink: {pin.states}"
    assert {s.state for s in pin.states[1:]} == {True, False}
    assert {s["name"]: s["mode"] for s in sl.snapshot()}["fault"] == "blink"
    sl.set("fault", "off")
    assert not level(factory, 25)


def test_setting_the_same_mode_again_does_not_restart_a_blink(lights, factory):
    sl = lights(blink_on=0.02, blink_off=0.02)
    sl.set("line1", "blink")
    led = sl._leds["line1"]
    thread = led._blink_thread
    sl.set("line1", "blink")
    assert led._blink_thread is thread


def test_more_lines_on_configured_pins(lights, factory):
    sl = lights({"line3": 5, "line4": 6})
    snap = {s["name"]: s for s in sl.snapshot()}
    assert (snap["line3"]["label"], snap["line3"]["pin"]) == ("Line 3", 5)
    assert (snap["line4"]["label"], snap["line4"]["pin"]) == ("Line 4", 6)
    sl.set("line4", "on")
    assert level(factory, 6) and not level(factory, 5)
    assert sl.has("line4") and not sl.has("line5")


def test_a_light_can_be_left_out(lights):
    sl = lights({"line2": None})
    assert "line2" not in {s["name"] for s in sl.snapshot()}
    with pytest.raises(LightsError, match="This Callbox has no Line 2 light"):
        sl.set("line2", "on")


def test_unknown_names_and_modes_are_explained(lights):
    sl = lights()
    with pytest.raises(LightsError, match="no status light called 'alarm'; lights are: power"):
        sl.set("alarm", "on")
    with pytest.raises(LightsError, match="A light can be off, on, blink; got 'flash'"):
        sl.set("power", "flash")
    with pytest.raises(LightsError, match="This Callbox has no Line 3 light"):
        sl.set("line3", "on")
    assert [s["mode"] for s in sl.snapshot()] == ["off"] * 6  # nothing changed


def test_bad_pin_maps_are_explained(factory):
    with pytest.raises(LightsError, match="Power and Fault lights are both set to GPIO 25"):
        StatusLights({"power": 25}, pin_factory=factory)
    with pytest.raises(LightsError, match="use a GPIO number from 0 to 27"):
        StatusLights({"line3": 40}, pin_factory=factory)
    with pytest.raises(LightsError, match="no status light called 'siren'"):
        StatusLights({"siren": 4}, pin_factory=factory)


def test_pin_in_use_is_explained_and_the_pins_grabbed_so_far_are_released(lights, factory):
    first = lights()
    clash = {"power": 4, "line1": 5, "line2": 6, "waiting": 7, "recording": 8, "fault": 25}
    with pytest.raises(LightsError, match="Fault light's pin GPIO 25 is already in use"):
        StatusLights(clash, pin_factory=factory)
    first.set("fault", "on")  # the first set of lights is unharmed
    assert level(factory, 25)
    first.close()
    again = lights(clash)  # pins 4..8 were given back by the failed attempt
    again.set("power", "on")
    assert level(factory, 4)


def test_close_turns_everything_off_and_releases_the_pins(lights, factory):
    sl = lights(blink_on=0.02, blink_off=0.02)
    sl.set("power", "on")
    sl.set("fault", "blink")
    sl.close()
    sl.close()
    assert not level(factory, 17) and not level(factory, 25)
    assert sl.snapshot() == []
    with pytest.raises(LightsError, match="shut down"):
        sl.set("power", "on")
    lights().set("power", "on")  # the pins are free again
    assert level(factory, 17)


# -- choosing real or stand-in pins --------------------------------------------------------------

def test_off_the_pi_the_mock_factory_is_chosen(tmp_path, monkeypatch):
    monkeypatch.delenv("GPIOZERO_PIN_FACTORY", raising=False)
    assert not on_raspberry_pi(tmp_path / "missing")
    f = choose_pin_factory(tmp_path / "missing")
    assert isinstance(f, MockFactory)
    f.close()
    pc = tmp_path / "model"
    pc.write_text("QEMU Virtual Machine\x00")
    assert not on_raspberry_pi(pc)


def test_on_a_pi_or_when_configured_gpiozero_chooses(tmp_path, monkeypatch):
    model = tmp_path / "model"
    model.write_text("Raspberry Pi 4 Model B Rev 1.5\x00")
    monkeypatch.delenv("GPIOZERO_PIN_FACTORY", raising=False)
    assert on_raspberry_pi(model)
    assert choose_pin_factory(model) is None
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    assert choose_pin_factory(tmp_path / "missing") is None


def test_default_construction_off_the_pi_runs_on_stand_in_pins(monkeypatch):
    monkeypatch.delenv("GPIOZERO_PIN_FACTORY", raising=False)
    if on_raspberry_pi():
        pytest.skip("this machine is a Raspberry Pi")
    sl = StatusLights()
    try:
        assert sl.simulated
        sl.set("power", "on")
        assert {s["name"]: s["lit"] for s in sl.snapshot()}["power"] is True
    finally:
        sl.close()
    other = StatusLights()  # its own stand-in pins: no clash with anything else
    other.close()


def test_labels_cover_every_default_light():
    assert set(PINS) - {"line1", "line2"} == set(LABELS)
