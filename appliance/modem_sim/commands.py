"""AT command lines as the simulated modem reads them, and what each dialect says back
that is fixed text (identification, result code spellings, ``=?`` ranges).

``split_line`` turns the text after ``AT`` into sub-commands (basic ones like ``E0``,
``S0=0``, ``&F``, ``D...`` and extended ones like ``+VSM=1,8000`` chained with ``;``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DIALECTS = ("conexant", "usr")


class CommandSyntaxError(ValueError):
    pass


@dataclass(frozen=True)
class Command:
    name: str  # "E", "S0", "&F", "D", "+VSM", "-SCID", "!4886"
    op: str = ""  # "", "=", "?", "=?"
    args: str = ""

    @property
    def text(self) -> str:
        return f"{self.name}{self.op}{self.args}"

    def ints(self, lo_hi: list[tuple[int, int]], minimum: int = 1) -> list[int]:
        """Comma-separated numbers each within its (lo, hi) range; ValueError otherwise."""
        parts = [p.strip() for p in self.args.split(",")] if self.args != "" else []
        if not minimum <= len(parts) <= len(lo_hi):
            raise ValueError(self.text)
        values = []
        for part, (lo, hi) in zip(parts, lo_hi):
            if not part.isdigit() or not lo <= int(part) <= hi:
                raise ValueError(self.text)
            values.append(int(part))
        return values


_EXT_NAME = re.compile(r"[A-Z0-9.%_]+")


def split_line(body: str) -> list[Command]:
    """The sub-commands of one command line (the text after ``AT``)."""
    text = body.upper()
    out: list[Command] = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c in " ;":
            i += 1
            continue
        if c in "+-#!":
            m = _EXT_NAME.match(text, i + 1)
            if not m:
                raise CommandSyntaxError(text[i:])
            name = c + m.group(0)
            i = m.end()
            op = ""
            if text.startswith("=?", i):
                op, i = "=?", i + 2
            elif text.startswith("=", i):
                op, i = "=", i + 1
            elif text.startswith("?", i):
                op, i = "?", i + 1
            end = text.find(";", i)
            end = n if end < 0 else end
            args = text[i:end].strip() if op == "=" else ""
            if op != "=" and text[i:end].strip():
                raise CommandSyntaxError(text[i:end])
            out.append(Command(name, op, args))
            i = end + 1
            continue
        if c == "D":
            out.append(Command("D", "", text[i + 1:].strip()))
            break
        if c == "&":
            if i + 1 >= n or not text[i + 1].isalpha():
                raise CommandSyntaxError(text[i:])
            m = re.compile(r"\d*").match(text, i + 2)
            out.append(Command("&" + text[i + 1], "", m.group(0)))
            i = m.end()
            continue
        if c == "S":
            m = re.compile(r"(\d+)(=\d*|\?)?").match(text, i + 1)
            if not m:
                raise CommandSyntaxError(text[i:])
            op = m.group(2) or ""
            out.append(Command("S" + m.group(1), op[:1], op[1:]))
            i = m.end()
            continue
        if c.isalpha():
            m = re.compile(r"\d*").match(text, i + 1)
            out.append(Command(c, "", m.group(0)))
            i = m.end()
            continue
        raise CommandSyntaxError(text[i:])
    return out


def fault_matches(pattern: str, line_body: str, cmd: Command) -> bool:
    """Does a fault pattern such as ``"AT+VCID=1"``, ``"+VCID"`` or ``"ATE0"`` name ``cmd``?"""
    pat = pattern.strip().upper().replace(" ", "")
    if pat.startswith("AT"):
        pat = pat[2:]
    text = cmd.text.replace(" ", "")
    if text == pat or line_body.upper().replace(" ", "") == pat:
        return True
    return text.startswith(pat) and len(text) > len(pat) and text[len(pat)] in "=?" \
        and pat[-1:] not in "=?"


# ----------------------------------------------------------------- fixed answers per dialect

RESULT_CODES = {"OK": 0, "CONNECT": 1, "RING": 2, "NO CARRIER": 3, "ERROR": 4,
                "NO DIAL TONE": 6, "NO DIALTONE": 6, "BUSY": 7, "NO ANSWER": 8}

IDENTITY = {
    "conexant": {"I0": "56000", "I3": "CX93001-EIS_V0.2013-V92", "+GMI": "CONEXANT",
                 "+GMM": "CX93001", "+GMR": "CX93001-EIS_V0.2013-V92", "-PV": "V0.2013"},
    # Only ATI0 = 5601 is from the reference; the rest is a plausible USR-style answer.
    "usr": {"I0": "5601", "I3": "U.S. Robotics 56K FAX USB V1.2.23",
            "+GMI": "U.S. Robotics", "+GMM": "USR5637", "+GMR": "1.2.23"},
}

FCLASS_LIST = {"conexant": "0,1,1.0,2,8", "usr": "0,1,1.0,8"}
FCLASS_VALUES = {"conexant": ("0", "1", "1.0", "2", "8"), "usr": ("0", "1", "1.0", "8")}

NO_DIAL_TONE = {"conexant": "NO DIAL TONE", "usr": "NO DIALTONE"}

COUNTRIES = ("00", "09", "20", "3D", "42", "59", "AE", "B4", "B5")

VLS_LINES = ['0,"",00000000,00000000,00000000', '1,"T",0B8418E000,0FE418E000,0B8419E000']
