"""Shared pieces of the modem simulator tests (no tests here): a running simulator with a real
pyserial port on its pty, reading until an expected answer, and a small independent decoder
of the modem -> host DLE stream."""

from __future__ import annotations

import time

import pytest
import serial

from appliance.modem_sim import ModemSimulator

DIALECTS = ("conexant", "usr")


class Port:
    """A pyserial port on the simulator, with a buffer so nothing read is lost."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.ser = serial.Serial(path, 115200, timeout=0.05)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.ser.write(data)

    def _fill(self) -> None:
        self.buf += self.ser.read(max(1, self.ser.in_waiting))

    def read_until(self, pattern: bytes, timeout: float = 3.0) -> bytes:
        """Everything up to and including ``pattern``; the rest stays buffered."""
        end = time.monotonic() + timeout
        while pattern not in self.buf:
            if time.monotonic() > end:
                raise AssertionError(f"{pattern!r} did not arrive within {timeout} s; got "
                                     f"{self.buf[-300:]!r}")
            self._fill()
        cut = self.buf.index(pattern) + len(pattern)
        out, self.buf = self.buf[:cut], self.buf[cut:]
        return out

    def read_for(self, seconds: float) -> bytes:
        """Everything that arrives within ``seconds`` (plus what was buffered)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self._fill()
        out, self.buf = self.buf, b""
        return out

    def command(self, text: str, final: str = "OK", timeout: float = 3.0) -> bytes:
        """Send ``text`` + CR and return the answer up to the final result (which must be
        ``final``; any other final result fails the test)."""
        self.send(text.encode("latin-1") + b"\r")
        answer = b""
        end = time.monotonic() + timeout
        finals = [b"\r\nOK\r\n", b"\r\nERROR\r\n", b"\r\nCONNECT\r\n", b"\r\nBUSY\r\n",
                  b"\r\nNO CARRIER\r\n", b"\r\nNO ANSWER\r\n", b"\r\nNO DIAL TONE\r\n",
                  b"\r\nNO DIALTONE\r\n"]
        while True:
            hits = [f for f in finals if f in self.buf]
            if hits:
                first = min(hits, key=self.buf.index)
                cut = self.buf.index(first) + len(first)
                answer, self.buf = self.buf[:cut], self.buf[cut:]
                break
            if time.monotonic() > end:
                raise AssertionError(f"no final result for {text!r} within {timeout} s; got "
                                     f"{self.buf!r}")
            self._fill()
        assert answer.endswith(f"\r\n{final}\r\n".encode()), (text, answer)
        return answer

    def info(self, text: str) -> list[str]:
        """The information lines of a command's answer (echo and blank lines removed)."""
        answer = self.command(text).decode("latin-1")
        lines = [line for line in answer.split("\r\n") if line]
        return [line for line in lines[:-1] if line != text + "\r"]

    def close(self) -> None:
        self.ser.close()


def assert_idle_in_class_0(sim: ModemSimulator) -> None:
    """After the port was closed (DTR drop), a new opener finds the modem idle in class 0."""
    again = Port(sim.port)
    try:
        again.command("AT")
        assert again.info("AT+FCLASS?") == ["0"]
    finally:
        again.close()


def decode_stream(data: bytes) -> tuple[bytes, list[str], bytes]:
    """Modem -> host stream bytes to (audio, event codes, bytes after DLE ETX)."""
    audio = bytearray()
    events: list[str] = []
    i = 0
    while i < len(data):
        b = data[i]
        if b != 0x10:
            audio.append(b)
            i += 1
            continue
        if i + 1 >= len(data):
            break
        code = data[i + 1]
        i += 2
        if code == 0x10:
            audio.append(0x10)
        elif code == 0x1A:
            audio += b"\x10\x10"
        elif code == 0x03:
            events.append("ETX")
            return bytes(audio), events, data[i:]
        else:
            events.append(chr(code))
    return bytes(audio), events, b""


def read_stream(port: Port, seconds: float) -> tuple[bytes, list[str]]:
    audio, events, _ = decode_stream(port.read_for(seconds))
    return audio, events


def read_stream_until(port: Port, code: str, timeout: float = 5.0) -> tuple[bytes, list[str]]:
    """Read the stream until the event ``code`` shows up (decoding everything so far)."""
    end = time.monotonic() + timeout
    raw = b""
    while time.monotonic() < end:
        raw += port.read_for(0.1)
        audio, events, _ = decode_stream(raw)
        if code in events:
            return audio, events
    raise AssertionError(f"event {code!r} did not arrive within {timeout} s; events "
                         f"{decode_stream(raw)[1]}")


@pytest.fixture(params=DIALECTS)
def dialect(request) -> str:
    return request.param


@pytest.fixture
def sim(dialect):
    modem = ModemSimulator(name="test", dialect=dialect)
    modem.start()
    yield modem
    modem.stop()


@pytest.fixture
def port(sim):
    p = Port(sim.port)
    yield p
    p.close()


def go_voice(port: Port, dialect: str) -> None:
    """Class 8, unsigned 8-bit, no silence detection: what the driver does before answering."""
    port.command("AT+FCLASS=8")
    port.command("AT+VSM=1,8000,0,0" if dialect == "conexant" else "AT+VSM=128,8000")
    port.command("AT+VSD=0,0")
