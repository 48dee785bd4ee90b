"""Dialling out: the owner's rules for which numbers may be called, and honest outcomes.

Owns ``DialRules`` (refuses numbers outside allowed prefixes, too long/short, premium-rate)
and ``DialOutcome`` (what the modem's final answer to ``ATDT`` really means: ``OK`` after
ringback only *presumes* an answer). Pure code; ``appliance/modem.py`` does the dialling.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from appliance.modem_commands import DialRefused

# Premium-rate and pay-per-call prefixes refused unless the owner removes them.
PREMIUM_PREFIXES = {
    "B5": ("1900", "1976", "900", "976"),  # USA
    "20": ("1900", "1976", "900", "976"),  # Canada
    "B4": ("09", "118", "0871", "0872", "0873"),  # UK
    "3D": ("089", "0836", "118"),  # France
    "42": ("0900", "0137", "118"),  # Germany
    "09": ("1900", "1902"),  # Australia
}


@dataclass
class DialRules:
    """Which numbers Callbox may dial. Empty ``allowed_prefixes`` allows every prefix."""
    allowed_prefixes: tuple[str, ...] = ()
    blocked_prefixes: tuple[str, ...] = field(default_factory=lambda: PREMIUM_PREFIXES["B5"])
    max_length: int = 15
    min_length: int = 3

    @classmethod
    def for_country(cls, country: str, **kwargs) -> "DialRules":
        kwargs.setdefault("blocked_prefixes", PREMIUM_PREFIXES.get(country.upper(), ()))
        return cls(**kwargs)

    def check(self, number: str) -> str:
        """The number as digits to dial, or ``DialRefused`` saying why it is not allowed."""
        if not isinstance(number, str) or not number.strip():
            raise DialRefused("No phone number was given to dial.")
        shown = number.strip()
        digits = re.sub(r"[\s\-.()/]", "", shown)
        if not re.fullmatch(r"[0-9*#,]+", digits):
            raise DialRefused(f"The number {shown!r} cannot be dialled: use only digits, * and # "
                              f"(spaces and dashes are fine).")
        plain = digits.replace(",", "")
        if len(plain) < self.min_length:
            raise DialRefused(f"The number {shown!r} is too short to dial (at least "
                              f"{self.min_length} digits).")
        if len(plain) > self.max_length:
            raise DialRefused(f"The number {shown!r} is too long: the dialling rules allow at "
                              f"most {self.max_length} digits.")
        for prefix in self.blocked_prefixes:
            if plain.startswith(prefix):
                raise DialRefused(f"The number {shown!r} starts with {prefix}, a premium-rate "
                                  f"prefix the dialling rules do not allow.")
        if self.allowed_prefixes and not any(plain.startswith(p) for p in self.allowed_prefixes):
            allowed = ", ".join(self.allowed_prefixes)
            raise DialRefused(f"The number {shown!r} is not allowed: the dialling rules only "
                              f"allow numbers starting with {allowed}.")
        return digits


@dataclass
class DialOutcome:
    reason: str  # presumed_answered, busy, no_dial_tone, no_answer, no_carrier, error, ...
    off_hook: bool  # True only for presumed_answered: the line is still held
    result: str  # the modem's own words (OK, BUSY, NO DIAL TONE ...)
    message: str  # a sentence for the owner

    @property
    def presumed_answered(self) -> bool:
        return self.reason == "presumed_answered"


_OUTCOMES = {
    "OK": ("presumed_answered", True,
           "Ringing stopped, so the call is presumed answered (the modem cannot tell a person "
           "from an answering machine or a silent line)."),
    "VCON": ("presumed_answered", True, "The modem reports a voice connection."),
    "BUSY": ("busy", False, "The number was busy."),
    "NO DIAL TONE": ("no_dial_tone", False,
                     "There was no dial tone: check that the phone line is plugged in."),
    "NO ANSWER": ("no_answer", False, "Nobody answered."),
    "NO CARRIER": ("no_carrier", False, "The call could not be completed (no ringing heard)."),
    "ERROR": ("error", False, "The modem refused to dial."),
    "DELAYED": ("delayed", False,
                "The modem refused to dial yet: too many recent attempts to this number."),
    "BLACKLISTED": ("blacklisted", False,
                    "The modem refuses this number after too many failed attempts."),
    "LINE IN USE": ("line_in_use", False, "Another phone on the line is in use."),
    "NO LINE": ("no_line", False, "No phone line is connected to the modem."),
}


def outcome_for_result(result: str, number: str) -> DialOutcome:
    reason, off_hook, message = _OUTCOMES.get(
        result, (result.lower().replace(" ", "_"), False, f"The modem answered {result}."))
    return DialOutcome(reason, off_hook, result, f"Dialling {number}: {message}")
