"""Hang-up classification: why a call on a voice modem is over (or is not a person at all).

Owns the mapping from what the line tells us to one reason word: the modem's ``<DLE>``
events (loop drop, polarity reversal, busy/dial tone, modem silence, fax/data calling
tones), the stream ending or ``NO CARRIER``, and silence measured in software, because
the modem's own silence detection does not fire on some Conexant dongles
(reference section 5). Pure code: feed it what ``VoiceModem.read_audio`` returns.
"""

from __future__ import annotations

import numpy as np

from appliance import pcm

# Reason words, in the vocabulary of the call records.
LOOP_DROP = "loop_drop"
POLARITY = "polarity"
BUSY_TONE = "busy_tone"
DIAL_TONE = "dial_tone"
MODEM_SILENCE = "modem_silence"
SILENCE = "silence"
FAX_TONE = "fax_tone"
DATA_TONE = "data_tone"
NO_CARRIER = "no_carrier"

EVENT_REASONS = {
    "l": LOOP_DROP,  # loop current interruption (also line reversal with -STE on Conexant)
    "L": POLARITY,  # loop current polarity reversal
    "b": BUSY_TONE,
    "K": BUSY_TONE,  # reorder (fast busy) on modems that report it
    "d": DIAL_TONE,
    "s": MODEM_SILENCE,  # +VSD silence timeout
    "c": FAX_TONE,  # 1100 Hz fax calling tone (CNG)
    "e": DATA_TONE,  # 1300 Hz data calling tone
    "\x03": NO_CARRIER,  # the modem ended the stream by itself
}

# Reasons meaning a machine, not a person, is calling: play a short message, then hang up.
MACHINE_REASONS = frozenset({FAX_TONE, DATA_TONE})

# 8-bit samples within two steps of the middle (0x7E-0x82 unsigned) count as silence.
DEFAULT_QUIET_LEVEL = 2 * 256


def reason_for_event(code: str) -> str | None:
    """The hang-up reason a single ``<DLE>`` event code means, or None."""
    return EVENT_REASONS.get(code)


def reason_for_result(line: str) -> str | None:
    """The reason a command-mode result line means (``NO CARRIER``), or None."""
    return NO_CARRIER if line.strip().upper() == "NO CARRIER" else None


def is_machine(reason: str | None) -> bool:
    return reason in MACHINE_REASONS


class HangupDetector:
    """Watches one call's received audio and events; ``feed`` returns the first reason found.

    Software silence: every sample within ``quiet_level`` of zero (int16 scale) for
    ``silence_s`` seconds. A caller who is still there sends line noise and breath, which
    stays above two 8-bit steps often enough to keep resetting the count.
    """

    def __init__(self, *, silence_s: float = 8.0, quiet_level: int = DEFAULT_QUIET_LEVEL,
                 rate: int = pcm.LINE_RATE):
        if silence_s <= 0:
            raise ValueError("silence_s must be more than 0 seconds")
        self.silence_s = silence_s
        self.quiet_level = quiet_level
        self.rate = rate
        self.reset()

    def reset(self) -> None:
        self.reason: str | None = None
        self.quiet_samples = 0

    @property
    def quiet_seconds(self) -> float:
        return self.quiet_samples / self.rate

    def feed(self, samples: np.ndarray, events: list[str] = ()) -> str | None:
        if self.reason is not None:
            return self.reason
        for code in events:
            reason = reason_for_event(code)
            if reason is not None:
                self.reason = reason
                return reason
        samples = np.asarray(samples)
        if len(samples):
            loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > self.quiet_level)
            if len(loud):
                self.quiet_samples = len(samples) - 1 - int(loud[-1])
            else:
                self.quiet_samples += len(samples)
            if self.quiet_samples >= self.silence_s * self.rate:
                self.reason = SILENCE
        return self.reason

    def feed_result(self, line: str) -> str | None:
        """A command-mode line (e.g. after the stream ended); ``NO CARRIER`` is a reason."""
        if self.reason is None:
            self.reason = reason_for_result(line)
        return self.reason
