"""Status lights: the appliance's front-panel LEDs on GPIO pins, driven through gpiozero.

Owns the pin map (``PINS``, which the KiCad schematic in ``hardware/`` must match), the human
labels, and ``StatusLights``: one gpiozero ``LED`` per light, set to off, on or blinking
(gpiozero's own background blink). On a Raspberry Pi gpiozero drives the real pins; anywhere
else (no ``/proc/device-tree/model`` naming a Raspberry Pi, and no ``GPIOZERO_PIN_FACTORY``
chosen) the lights run on gpiozero's mock pin factory, the stand-in, so the same code runs in
tests and demos. ``snapshot()`` reads each pin's level back from gpiozero.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

from gpiozero import LED
from gpiozero.exc import GPIOZeroError

# BCM pin numbers. hardware/ schematics must use the same pins.
PINS: dict[str, int] = {
    "power": 17,
    "line1": 27,
    "line2": 22,
    "waiting": 23,
    "recording": 24,
    "fault": 25,
}

LABELS: dict[str, str] = {
    "power": "Power",
    "waiting": "Callers waiting",
    "recording": "Recording",
    "fault": "Fault",
}

MODES = ("off", "on", "blink")
BCM_PINS = range(0, 28)  # GPIO0..GPIO27 on the 40-pin header
DEVICE_TREE_MODEL = Path("/proc/device-tree/model")
_LINE_RE = re.compile(r"^line([1-9][0-9]?)$")


class LightsError(Exception):
    """A status light could not be set up; ``str(e)`` says which and why in plain words."""


def label_for(name: str) -> str:
    """Human label of a light: ``line3`` -> ``Line 3``."""
    m = _LINE_RE.match(name)
    if m:
        return f"Line {m.group(1)}"
    return LABELS[name]


def _check_name(name: str) -> None:
    if name not in LABELS and not _LINE_RE.match(name if isinstance(name, str) else ""):
        known = ", ".join(list(LABELS) + ["line1", "line2", "..."])
        raise LightsError(f"There is no status light called {name!r}; lights are: {known}.")


def on_raspberry_pi(model_path: Path = DEVICE_TREE_MODEL) -> bool:
    """True when the device tree says this board is a Raspberry Pi."""
    try:
        return "Raspberry Pi" in Path(model_path).read_text(errors="replace")
    except OSError:
        return False


def choose_pin_factory(model_path: Path = DEVICE_TREE_MODEL):
    """``None`` (gpiozero's own choice) on a Pi or when ``GPIOZERO_PIN_FACTORY`` is set;
    otherwise a fresh ``MockFactory``: the stand-in pins."""
    if os.environ.get("GPIOZERO_PIN_FACTORY") or on_raspberry_pi(model_path):
        return None
    from gpiozero.pins.mock import MockFactory

    return MockFactory()


class StatusLights:
    """The front-panel lights. ``pins`` adds to or overrides ``PINS`` (a value of ``None``
    removes a light), e.g. ``{"line3": 5, "line4": 6}`` for a four-line box.

    ``pin_factory`` is passed to gpiozero; by default ``choose_pin_factory()`` decides.
    """

    def __init__(self, pins: dict[str, int | None] | None = None, pin_factory=None, *,
                 blink_on: float = 0.5, blink_off: float = 0.5):
        layout = dict(PINS)
        for name, pin in (pins or {}).items():
            _check_name(name)
            if pin is None:
                layout.pop(name, None)
            else:
                layout[name] = pin
        used: dict[int, str] = {}
        for name, pin in layout.items():
            if isinstance(pin, bool) or not isinstance(pin, int) or pin not in BCM_PINS:
                raise LightsError(f"The {label_for(name)} light is set to GPIO pin {pin!r}; "
                                  f"use a GPIO number from 0 to 27 (BCM numbering).")
            if pin in used:
                raise LightsError(f"The {label_for(used[pin])} and {label_for(name)} lights are "
                                  f"both set to GPIO {pin}; each light needs its own pin.")
            used[pin] = name
        self._owns_factory = pin_factory is None
        self.pin_factory = pin_factory if pin_factory is not None else choose_pin_factory()
        if self.pin_factory is None:
            self._owns_factory = False
        self.blink_on = blink_on
        self.blink_off = blink_off
        self.pins = layout
        self._lock = threading.Lock()
        self._leds: dict[str, LED] = {}
        self._modes: dict[str, str] = {}
        self._closed = False
        try:
            for name, pin in layout.items():
                try:
                    self._leds[name] = LED(pin, pin_factory=self.pin_factory)
                except GPIOZeroError as exc:
                    raise LightsError(self._pin_problem(name, pin, exc)) from exc
                except OSError as exc:
                    raise LightsError(f"The {label_for(name)} light (GPIO {pin}) cannot be used: "
                                      f"{exc.strerror or exc}. Is Callbox allowed to use the "
                                      f"GPIO pins (group 'gpio')?") from exc
                self._modes[name] = "off"
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _pin_problem(name: str, pin: int, exc: Exception) -> str:
        from gpiozero.exc import GPIOPinInUse, PinInvalidPin

        if isinstance(exc, GPIOPinInUse):
            return (f"The {label_for(name)} light's pin GPIO {pin} is already in use by another "
                    f"device or program.")
        if isinstance(exc, PinInvalidPin):
            return f"The {label_for(name)} light's pin GPIO {pin} does not exist on this board."
        return f"The {label_for(name)} light (GPIO {pin}) cannot be used: {exc}"

    @property
    def simulated(self) -> bool:
        """True when the lights run on gpiozero's mock pins (no real LEDs)."""
        from gpiozero import Device
        from gpiozero.pins.mock import MockFactory

        factory = self.pin_factory if self.pin_factory is not None else Device.pin_factory
        return isinstance(factory, MockFactory)

    def set(self, name: str, mode: str) -> None:
        """Turn light ``name`` ``"off"``, ``"on"`` or make it ``"blink"``."""
        if mode not in MODES:
            raise LightsError(f"A light can be {', '.join(MODES)}; got {mode!r} for {name!r}.")
        with self._lock:
            if self._closed:
                raise LightsError("The status lights have been shut down (closed); "
                                  f"{name!r} cannot be set.")
            led = self._leds.get(name)
            if led is None:
                _check_name(name)
                raise LightsError(f"This Callbox has no {label_for(name)} light "
                                  f"(no GPIO pin is set for {name!r}).")
            if self._modes[name] == mode:
                return  # leave a running blink undisturbed
            if mode == "on":
                led.on()
            elif mode == "off":
                led.off()
            else:
                led.blink(on_time=self.blink_on, off_time=self.blink_off, background=True)
            self._modes[name] = mode

    def has(self, name: str) -> bool:
        """Whether this box has a light called ``name`` (e.g. ``line3`` only if it has a pin)."""
        return name in self._leds

    def mode(self, name: str) -> str:
        with self._lock:
            if name not in self._modes:
                _check_name(name)
                raise LightsError(f"This Callbox has no {label_for(name)} light.")
            return self._modes[name]

    def snapshot(self) -> list[dict]:
        """Each light: name, label, BCM pin, mode, and whether its pin is high right now."""
        with self._lock:
            result = []
            for name, led in self._leds.items():
                try:
                    lit = bool(led.pin.state) if led.pin is not None else False
                except (GPIOZeroError, OSError):
                    lit = False
                result.append({"name": name, "label": label_for(name), "pin": self.pins[name],
                               "mode": self._modes[name], "lit": lit})
            return result

    def close(self) -> None:
        """Turn every light off and release the pins (and a mock factory made for us)."""
        with self._lock:
            self._closed = True
            leds, self._leds = self._leds, {}
        for led in leds.values():
            try:
                led.off()  # stops a blink too; a released pin must not be left lit
                led.close()
            except (GPIOZeroError, OSError):
                pass
        if self._owns_factory and self.pin_factory is not None:
            try:
                self.pin_factory.close()
            except (GPIOZeroError, OSError):
                pass
            self._owns_factory = False

    def __enter__(self) -> "StatusLights":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
