"""The AT command vocabulary of the voice modems: errors, result codes, plain-language names
for commands, and parsing of identification and ``AT+VSM=?`` answers.

Pure code, no I/O: ``appliance/modem.py`` does the talking and uses this module to judge
what it heard. Everything here follows /work/shared/reference/voice-modem.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from appliance import pcm


class ModemError(Exception):
    """A modem fault. ``command`` names the AT command that failed (or None); ``str(e)`` is a
    sentence a non-programmer can act on."""

    def __init__(self, message: str, *, command: str | None = None, answer: str | None = None):
        super().__init__(message)
        self.command = command
        self.answer = answer


class ModemGone(ModemError):
    """The serial port vanished or failed (USB modem unplugged, port I/O error)."""


class DialRefused(ModemError):
    """A number the owner's dialling rules do not allow (nothing was dialled)."""


DIALECT_CONEXANT = "conexant"
DIALECT_USR = "usr"
DIALECTS = (DIALECT_CONEXANT, DIALECT_USR)

OK = "OK"
CONNECT = "CONNECT"
RING = "RING"
ERROR = "ERROR"
NO_CARRIER = "NO CARRIER"
NO_DIAL_TONE = "NO DIAL TONE"
BUSY = "BUSY"
NO_ANSWER = "NO ANSWER"

# Final result codes: a command's answer ends with one of these.
FINAL_RESULTS = (
    "OK", "CONNECT", "ERROR", "NO CARRIER", "NO DIAL TONE", "NO DIALTONE", "BUSY",
    "NO ANSWER", "DELAYED", "BLACKLISTED", "LINE IN USE", "NO LINE", "OFF HOOK INTRUSION",
    "VCON",
)
# Numeric (ATV0) forms, only trusted while the verbose setting is not yet known.
NUMERIC_RESULTS = {"0": "OK", "1": "CONNECT", "2": "RING", "3": "NO CARRIER", "4": "ERROR",
                   "6": "NO DIAL TONE", "7": "BUSY", "8": "NO ANSWER"}


def final_result(line: str) -> str | None:
    """The result code a line carries (``CONNECT 9600`` -> ``CONNECT``), or None."""
    text = line.strip().upper()
    if text in FINAL_RESULTS:
        return "NO DIAL TONE" if text == "NO DIALTONE" else text
    if text.startswith("CONNECT"):
        return CONNECT
    return None


def is_ring(line: str) -> bool:
    """``RING``, or distinctive ring ``RING 1`` / ``RING A``."""
    text = line.strip().upper()
    return text == RING or (text.startswith("RING ") and len(text) <= 8)


# What each command is for, in words an owner understands (used in error messages).
_DESCRIPTIONS = [
    (r"AT$", "are you there?"),
    (r"ATZ", "reset"),
    (r"AT&F", "factory reset"),
    (r"ATE0", "echo off"),
    (r"ATV1", "word answers"),
    (r"ATS0=0", "no automatic answering"),
    (r"ATM0", "speaker off"),
    (r"ATI0|ATI$", "product code"),
    (r"ATI3", "firmware version"),
    (r"AT\+GMI", "manufacturer"),
    (r"AT\+GMM", "model"),
    (r"AT\+GMR", "firmware version"),
    (r"AT\+GCI=", "country setting"),
    (r"AT\+VCID=1", "caller ID on"),
    (r"AT\+VCID=0", "caller ID off"),
    (r"AT\+FCLASS=8", "voice mode"),
    (r"AT\+FCLASS=0", "back to idle mode"),
    (r"AT\+VSM=\?", "list of audio formats"),
    (r"AT\+VSM=", "audio format"),
    (r"AT\+VSD=", "silence detection setting"),
    (r"AT\+VIT=", "inactivity timer setting"),
    (r"AT\+VLS=1", "pick up the line"),
    (r"AT\+VLS=0", "hang up the line"),
    (r"ATH", "hang up"),
    (r"AT\+VTR", "start two-way audio"),
    (r"AT\+VTX", "start playing audio"),
    (r"AT\+VRX", "start recording audio"),
    (r"AT\+VTS=", "send tones"),
    (r"AT\+VRA=|AT\+VRN=", "ringback timers"),
    (r"ATD", "dial"),
]


def describe(command: str) -> str:
    """``"AT+VCID=1"`` -> ``"caller ID on"``; a generic phrase for anything else."""
    text = command.strip().upper()
    for pattern, words in _DESCRIPTIONS:
        if re.match(pattern, text):
            return words
    return "modem command"


def error_message(command: str, answer: str | None, port: str, tries: int) -> str:
    """The sentence for a command that kept failing."""
    what = f"{command} ({describe(command)})"
    tried = f" after {tries} tries" if tries > 1 else ""
    if answer is None:
        return (f"The modem on {port} did not answer {what}{tried}. Check that it is plugged in "
                f"and that no other program (such as ModemManager) is using it.")
    return f"The modem on {port} answered {answer} to {what}{tried}."


def dialect_from_ati0(ati0: str | None) -> str | None:
    """Command dialect from the ``ATI0`` product code: ``56000`` Conexant, ``5601`` USR."""
    code = (ati0 or "").strip()
    if code == "56000":
        return DIALECT_CONEXANT
    if code == "5601":
        return DIALECT_USR
    return None


@dataclass(frozen=True)
class VsmOffer:
    """One line of ``AT+VSM=?``: the vendor code and what we take it to mean."""
    code: int
    label: str | None  # the quoted name if the modem gave one
    bits: int | None
    fmt: str | None  # pcm.U8/S8/ULAW/ALAW, or None if not an 8-bit format we speak
    rates: tuple[int, ...] = ()


# Per-dialect meaning of the codes when the modem does not name them (the numbers clash
# between vendors: Conexant 130 is unsigned PCM, USR 130 is A-law).
_CODE_TABLES = {
    DIALECT_CONEXANT: {0: pcm.S8, 1: pcm.U8, 130: pcm.U8, 131: pcm.ULAW, 132: pcm.ALAW},
    DIALECT_USR: {128: pcm.U8, 130: pcm.ALAW, 131: pcm.ULAW},
}
# Preference: unsigned 8-bit linear, then mu-law, then A-law, then signed 8-bit.
_PREFERENCE = {pcm.U8: 0, pcm.ULAW: 1, pcm.ALAW: 2, pcm.S8: 3}
# Within one format, the code the working projects use first.
_PREFERRED_CODE = {DIALECT_CONEXANT: (1, 130, 131, 132, 0), DIALECT_USR: (128, 131, 130)}


def _format_from_label(label: str, bits: int | None) -> str | None:
    words = re.sub(r"[^A-Z0-9]+", " ", label.upper().replace("µ", "MU").replace("Μ", "MU"))
    if bits not in (None, 8):
        return None
    if re.search(r"\b(MU ?LAW|U ?LAW|ULAW|G711U)\b", words):
        return pcm.ULAW
    if re.search(r"\b(A ?LAW|ALAW|G711A)\b", words):
        return pcm.ALAW
    if "ADPCM" in words:
        return None
    if "UNSIGNED" in words and bits == 8:
        return pcm.U8
    if "SIGNED" in words and bits == 8:
        return pcm.S8
    return None


def parse_vsm_offers(lines: list[str], dialect: str) -> list[VsmOffer]:
    """Parse the information lines of ``AT+VSM=?`` (e.g. ``1,"UNSIGNED PCM",8,0,8000,0,0``).

    Lines with a quoted name are read by name (bits must be 8); bare codes and ranges
    (``128-132``) fall back to the dialect's code table.
    """
    table = _CODE_TABLES.get(dialect, {})
    offers: list[VsmOffer] = []
    for line in lines:
        text = line.strip()
        if not text:
            continue
        label_match = re.search(r'"([^"]*)"', text)
        label = label_match.group(1) if label_match else None
        head = text.split(",", 1)[0].strip().strip("()")
        codes: list[int] = []
        for part in head.split(","):
            m = re.fullmatch(r"\s*(\d{1,3})\s*(?:-\s*(\d{1,3})\s*)?", part)
            if not m:
                continue
            lo = int(m.group(1))
            hi = int(m.group(2)) if m.group(2) else lo
            if hi - lo <= 32:
                codes.extend(range(lo, hi + 1))
        if not codes:
            continue
        bits = None
        rates: tuple[int, ...] = ()
        if label is not None:
            after = text[label_match.end():]
            numbers = [int(x) for x in re.findall(r"\d+", after)]
            named_bits = re.search(r"(\d+)\s*-?\s*BIT", label.upper())
            if named_bits:
                bits = int(named_bits.group(1))
            elif numbers and numbers[0] in (1, 2, 3, 4, 8, 14, 16):
                bits = numbers[0]
            rates = tuple(x for x in numbers if x in (7200, 8000, 11025, 16000))
            fmt = _format_from_label(label, bits)
            if fmt is None and bits in (None, 8) and "ADPCM" not in label.upper():
                fmt = table.get(codes[0])
            offers.append(VsmOffer(codes[0], label, bits, fmt, rates))
        else:
            for code in codes:
                offers.append(VsmOffer(code, None, 8 if code in table else None,
                                       table.get(code), ()))
    return offers


def choose_format(offers: list[VsmOffer], dialect: str) -> VsmOffer | None:
    """The best 8-bit format among the offers (see ``_PREFERENCE``), or None."""
    usable = [o for o in offers if o.fmt is not None and (not o.rates or 8000 in o.rates)]
    if not usable:
        return None
    order = _PREFERRED_CODE.get(dialect, ())

    def rank(o: VsmOffer):
        return (_PREFERENCE[o.fmt], order.index(o.code) if o.code in order else len(order), o.code)

    return min(usable, key=rank)


def vsm_command(offer: VsmOffer, dialect: str) -> str:
    """The ``AT+VSM`` command selecting ``offer`` at 8000 samples/s in the dialect's usual form."""
    if dialect == DIALECT_USR:
        return f"AT+VSM={offer.code},8000"
    return f"AT+VSM={offer.code},8000,0,0"


def valid_country(code: str) -> bool:
    """``AT+GCI`` takes a two-digit hex country code (B5 USA, B4 UK, 3D France ...)."""
    return bool(re.fullmatch(r"[0-9A-Fa-f]{2}", code or ""))


# ---------------------------------------------------------------- AT+VTS tone lists

_TONE_ELEMENT = re.compile(
    r"\s*(?:(?P<char>[0-9*#A-Da-d!])"
    r"|\[\s*(?P<f1>\d{1,4})\s*,\s*(?P<f2>\d{1,4})\s*,\s*(?P<dur>\d{1,3})\s*\]"
    r"|\{\s*(?P<dchar>[0-9*#A-Da-d!])\s*,\s*(?P<ddur>\d{1,3})\s*\})\s*")


def split_tone_list(spec: str) -> list[str]:
    """An ``AT+VTS`` list split at its top-level commas (not those inside [..] or {..})."""
    parts, depth, current = [], 0, ""
    for ch in spec:
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return parts


def _tone_elements(spec: str) -> list[re.Match]:
    """Split an ``AT+VTS`` list at top-level commas into matched elements."""
    matches = []
    for part in split_tone_list(spec):
        m = _TONE_ELEMENT.fullmatch(part)
        if m is None:
            raise ModemError(f"The tone list {spec!r} is not valid at {part.strip()!r}: use "
                             f"digits, [f1,f2,duration] or {{digit,duration}}.",
                             command="AT+VTS")
        matches.append(m)
    return matches


def validate_tone_spec(spec: str) -> None:
    """ModemError with a clear message unless ``spec`` is a valid ``AT+VTS`` list."""
    if not isinstance(spec, str) or not spec.strip():
        raise ModemError("No tones were given to send.", command="AT+VTS")
    for m in _tone_elements(spec):
        if m.group("f1") is not None:
            for f in (int(m.group("f1")), int(m.group("f2"))):
                if f != 0 and not 200 <= f <= 3000:
                    raise ModemError(f"The tone frequency {f} Hz in {spec!r} is outside what the "
                                     f"modem can play (0 or 200-3000 Hz).", command="AT+VTS")
        duration = m.group("dur") or m.group("ddur")
        if duration is not None and int(duration) > 255:
            raise ModemError(f"The tone duration {duration} in {spec!r} is too long (at most "
                             f"255, in hundredths of a second).", command="AT+VTS")


def tone_seconds(spec: str, default_duration: int = 100) -> float:
    """How long the modem will take to play ``spec`` (durations in 10 ms units)."""
    total = 0
    for m in _tone_elements(spec):
        duration = m.group("dur") or m.group("ddur")
        total += int(duration) if duration is not None else default_duration
    return total / 100.0


def model_from_firmware(firmware: str | None) -> str | None:
    """``CX93001-EIS_V0.2013-V92`` -> ``CX93001-EIS``; None if it has no such shape."""
    m = re.match(r"\s*([A-Za-z]{2,}[0-9][A-Za-z0-9-]*)_V", firmware or "")
    return m.group(1) if m else None
