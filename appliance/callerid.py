"""Caller ID: parsing the formatted caller-ID lines a voice modem prints between rings.

Owns the ``CallerId`` record and ``parse_caller_id``. Pure code: the driver collects the
lines (``DATE = 0731``, ``NMBR=5551234567`` ...) and hands them over. Both vendor spellings
are accepted (Conexant puts spaces around ``=``, USR does not), as are ``DDN_NMBR``/``NBR``
for the number, ``P``/``A`` (private, anonymous) and ``O`` (out of area) markers and
missing fields. ``MESG`` (data the modem could not decode) and unknown tags are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field

NUMBER_TAGS = ("NMBR", "DDN_NMBR", "NBR", "DDN")
NAME_TAGS = ("NAME",)
DATE_TAGS = ("DATE",)
TIME_TAGS = ("TIME",)
IGNORED_TAGS = ("MESG",)
KNOWN_TAGS = NUMBER_TAGS + NAME_TAGS + DATE_TAGS + TIME_TAGS + IGNORED_TAGS

PRIVATE_MARKERS = ("P", "A")  # private / withheld, anonymous
UNAVAILABLE_MARKERS = ("O",)  # out of area / unavailable

STATUS_OK = "ok"
STATUS_PRIVATE = "private"
STATUS_UNAVAILABLE = "unavailable"
STATUS_NONE = "none"


@dataclass
class CallerId:
    number: str | None = None
    name: str | None = None
    status: str = STATUS_NONE  # "ok" | "private" | "unavailable" | "none" (no caller ID sent)
    date: str | None = None  # "MMDD" as sent by the exchange
    time: str | None = None  # "HHMM", 24 h, exchange clock
    lines: list[str] = field(default_factory=list)  # the raw lines that were recognised

    def describe(self) -> str:
        """A short human description, e.g. for the admin page."""
        if self.status == STATUS_OK:
            return f"{self.name} ({self.number})" if self.name else str(self.number)
        return {
            STATUS_PRIVATE: "Withheld number",
            STATUS_UNAVAILABLE: "Number unavailable",
        }.get(self.status, "No caller ID")


def split_caller_id_line(line: str) -> tuple[str, str] | None:
    """``"NMBR = 5551234567"`` -> ``("NMBR", "5551234567")``; None if not a caller-ID line."""
    if not isinstance(line, str) or "=" not in line:
        return None
    tag, _, value = line.partition("=")
    tag = tag.strip().upper()
    if tag not in KNOWN_TAGS:
        return None
    return tag, value.strip()


def is_caller_id_line(line: str) -> bool:
    return split_caller_id_line(line) is not None


def _clean_number(value: str) -> str | None:
    """Keep what a phone number can contain; None if nothing is left."""
    kept = "".join(ch for ch in value if ch.isdigit() or ch in "+*#")
    return kept or None


def parse_caller_id(lines: list[str]) -> CallerId:
    """Build a ``CallerId`` from the modem's formatted caller-ID lines (other lines ignored).

    The first real number wins (some exchanges send a number and then ``NMBR = O``). A
    block with date/time but no number counts as ``unavailable``; no block at all is
    ``none``.
    """
    cid = CallerId()
    marker: str | None = None
    seen_block = False
    for raw in lines or []:
        parsed = split_caller_id_line(raw)
        if parsed is None:
            continue
        tag, value = parsed
        cid.lines.append(raw.strip())
        if tag in IGNORED_TAGS:
            continue
        seen_block = True
        upper = value.upper()
        if tag in NUMBER_TAGS:
            if upper in PRIVATE_MARKERS or upper in UNAVAILABLE_MARKERS:
                if cid.number is None and marker is None:
                    marker = upper
            elif cid.number is None:
                cid.number = _clean_number(value)
        elif tag in NAME_TAGS:
            if upper in PRIVATE_MARKERS or upper in UNAVAILABLE_MARKERS or not value:
                if marker is None and cid.number is None and upper in PRIVATE_MARKERS:
                    marker = upper
            elif cid.name is None:
                cid.name = value
        elif tag in DATE_TAGS:
            cid.date = value or None
        elif tag in TIME_TAGS:
            cid.time = value or None
    if cid.number is not None:
        cid.status = STATUS_OK
    elif marker in PRIVATE_MARKERS:
        cid.status = STATUS_PRIVATE
    elif seen_block:
        cid.status = STATUS_UNAVAILABLE
    else:
        cid.status = STATUS_NONE
    return cid
