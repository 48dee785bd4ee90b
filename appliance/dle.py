"""DLE shielding of voice-modem audio streams (V.253 section 7.3, pure code, no I/O).

Owns the byte-level framing between the host and a voice modem while a stream runs:
``shield`` escapes audio going to the modem, ``DleDecoder`` splits what the modem sends
into audio bytes and ``<DLE>`` event codes, and ``DtmfCollector`` turns event codes into
key presses.
"""

from __future__ import annotations

DLE = 0x10
ETX = 0x03
SUB = 0x1A

END_OF_STREAM = "\x03"

# The DTE -> modem commands that may follow a DLE (for building control sequences).
END_TRANSMIT = bytes([DLE, ETX])  # 10 03: end of audio from the host
CLEAR_TRANSMIT = bytes([DLE, 0x18])  # 10 18: discard the modem's transmit buffer
RECEIVE_ABORT = bytes([DLE, 0x21])  # 10 21 "!": stop +VRX
DUPLEX_ABORT = bytes([DLE, 0x5E])  # 10 5E "^": stop +VTR

DTMF_DIGITS = frozenset("0123456789*#ABCD")
DTMF_START = "/"
DTMF_END = "~"

# Complex event reports are framed <DLE>X text <DLE>. ; longer than this is not a report.
_REPORT_LIMIT = 512


def shield(data: bytes) -> bytes:
    """Audio bytes for the modem with every data 0x10 doubled, so none is taken as a command."""
    return bytes(data).replace(b"\x10", b"\x10\x10")


class DleDecoder:
    """Splits the modem -> host byte stream into audio bytes and event codes.

    ``10 10`` is one data byte 0x10, ``10 1A`` two data bytes 0x10, any other ``10 xx`` the
    event ``chr(xx)``. ``10 03`` is the event ``"\\x03"`` (end of stream): the decoder stops
    there and keeps whatever follows (command-mode text such as ``\\r\\nOK\\r\\n``) in
    ``remainder`` for the caller. A ``<DLE>X ... <DLE>.`` complex event report becomes the
    event ``"X"`` and its text is appended to ``reports``. A ``10`` at the end of one read
    is remembered until the next.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._pending_dle = False
        self._report: bytearray | None = None
        self.ended = False
        self.remainder = bytearray()
        self.reports: list[str] = []

    def feed(self, data: bytes) -> tuple[bytes, list[str]]:
        if self.ended:
            self.remainder += data
            return b"", []
        audio = bytearray()
        events: list[str] = []
        i = 0
        n = len(data)
        while i < n:
            if not self._pending_dle:
                j = data.find(b"\x10", i)
                stop = n if j < 0 else j
                if self._report is not None:
                    self._report += data[i:stop]
                    if len(self._report) > _REPORT_LIMIT:
                        # Not a report after all: hand the bytes back as audio.
                        audio += self._report
                        self._report = None
                else:
                    audio += data[i:stop]
                if j < 0:
                    break
                self._pending_dle = True
                i = j + 1
                continue
            code = data[i]
            i += 1
            self._pending_dle = False
            if self._report is not None:
                if code == ord("."):
                    self.reports.append(self._report.decode("ascii", "replace"))
                    self._report = None
                    events.append("X")
                    continue
                if code == DLE:
                    self._report.append(DLE)
                    continue
                if code != ETX:
                    continue  # any other DLE pair inside a report is dropped
                self._report = None  # the stream ended inside a report: end it here
            if code == DLE:
                audio.append(DLE)
            elif code == SUB:
                audio += b"\x10\x10"
            elif code == ETX:
                events.append(END_OF_STREAM)
                self.ended = True
                self.remainder += data[i:]
                break
            elif code == ord("X"):
                self._report = bytearray()
            else:
                events.append(chr(code))
        return bytes(audio), events


class DtmfCollector:
    """Turns event codes into key presses.

    A ``/ 5 5 5 ~`` group (a held key repeats its digit) counts once; a bare digit without
    the brackets counts on its own. Other events are ignored. State carries across calls.
    """

    def __init__(self) -> None:
        self._in_group = False
        self._group_has_digit = False

    def feed(self, events) -> list[str]:
        digits: list[str] = []
        for ev in events:
            if ev == DTMF_START:
                self._in_group = True
                self._group_has_digit = False
            elif ev == DTMF_END:
                self._in_group = False
                self._group_has_digit = False
            elif ev in DTMF_DIGITS:
                if not self._in_group:
                    digits.append(ev)
                elif not self._group_has_digit:
                    digits.append(ev)
                    self._group_has_digit = True
        return digits
