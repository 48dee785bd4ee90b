"""The phone menu callers hear: what a menu holds, how an owner's menu is checked, and one caller's
walk through it.

``Menu`` is the definition (greeting, which key goes to which queue, how long to wait for a key);
``validate_menu`` turns an owner's dict (config file, admin page, store) into a ``Menu`` or explains
in plain words what is wrong. ``MenuSession`` is pure: it is told about keys and time-outs and
answers with the next thing to do (``Play``, ``Route`` or ``Hangup``); the line worker does the
audio and the timing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Union

KEYS = "0123456789*#"
DEFAULT_INVALID_PROMPT = "Sorry, that is not an option."
DEFAULT_GOODBYE_PROMPT = "We did not receive a choice. Thank you for calling, goodbye."
GOODBYE_GRACE_S = 0.5  # after the goodbye has played, hang up this soon
MAX_PROMPT_CHARS = 1000
TIMEOUT_RANGE_S = (1.0, 60.0)
MAX_RETRIES = 10

FIELDS = ("name", "greeting", "options", "timeout_s", "retries", "invalid_prompt",
          "goodbye_prompt", "default_queue")


class MenuError(ValueError):
    """An owner's menu has problems; ``problems`` lists them, each a sentence."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__(" ".join(self.problems))


@dataclass(frozen=True)
class MenuOption:
    """One choice in the menu: pressing ``key`` puts the caller in ``queue``."""

    key: str
    queue: str


@dataclass(frozen=True)
class Menu:
    name: str
    greeting: str
    options: dict[str, str]  # key -> queue name
    timeout_s: float = 6.0
    retries: int = 2
    invalid_prompt: str = DEFAULT_INVALID_PROMPT
    goodbye_prompt: str = DEFAULT_GOODBYE_PROMPT
    default_queue: str | None = None  # where callers who choose nothing end up (None: goodbye)

    def __post_init__(self):
        bad = [k for k in self.options if not isinstance(k, str) or len(k) != 1 or k not in KEYS]
        if bad:
            raise MenuError([f"{_show(k)} is not a phone key; keys must be one of 0-9, * or #."
                             for k in bad])
        if not self.greeting.strip():
            raise MenuError(["The greeting is missing; write what callers should hear."])

    def option_list(self) -> list[MenuOption]:
        """The options in key order (digits, then * and #), e.g. for an edit form."""
        return [MenuOption(k, self.options[k]) for k in sorted(self.options, key=KEYS.index)]

    def queues(self) -> set[str]:
        """Every queue this menu can send a caller to."""
        return set(self.options.values()) | ({self.default_queue} if self.default_queue else set())

    def repeat_prompt(self) -> str:
        """What a caller hears after pressing a key that is not an option."""
        return f"{self.invalid_prompt} {self.greeting}"

    def extra_prompts(self) -> list[str]:
        """Texts the session may play besides the greeting (to synthesise up front)."""
        return [self.repeat_prompt(), self.goodbye_prompt]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict that ``Menu.from_dict`` / ``validate_menu`` read back unchanged."""
        return {"name": self.name, "greeting": self.greeting,
                "options": {o.key: o.queue for o in self.option_list()},
                "timeout_s": self.timeout_s, "retries": self.retries,
                "invalid_prompt": self.invalid_prompt, "goodbye_prompt": self.goodbye_prompt,
                "default_queue": self.default_queue}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], queues: Iterable[str] | None = None) -> "Menu":
        return validate_menu(data, queues=queues)


# -- checking an owner's menu ------------------------------------------------------------

def validate_menu(data: Any, queues: Iterable[str] | None = None) -> Menu:
    """Check an owner's menu definition and build the ``Menu``; raise ``MenuError`` listing every
    problem in plain words. With ``queues`` (the queue names that exist), options must point at
    one of them. Options may be a mapping ``{"1": "sales"}`` (YAML's ``1: sales`` works too) or a
    list of ``{"key": "1", "queue": "sales"}`` rows as an edit form sends them."""
    if not isinstance(data, Mapping):
        raise MenuError([f"The menu should be a set of named fields (name, greeting, options), "
                         f"not {_show(data)}."])
    problems: list[str] = []
    unknown = [str(k) for k in data if k not in FIELDS]
    if unknown:
        problems.append(f"The menu has fields this version does not know: "
                        f"{', '.join(sorted(unknown))} (known: {', '.join(FIELDS)}).")

    name = _text(data, "name", "The menu name", problems, default="main", limit=100)
    greeting = _text(data, "greeting", "The greeting", problems, required=True)
    invalid_prompt = _text(data, "invalid_prompt", "The 'not an option' message", problems,
                           default=DEFAULT_INVALID_PROMPT)
    goodbye_prompt = _text(data, "goodbye_prompt", "The goodbye message", problems,
                           default=DEFAULT_GOODBYE_PROMPT)
    timeout_s = _number(data.get("timeout_s", 6.0), problems)
    retries = _retries(data.get("retries", 2), problems)
    before = len(problems)
    options = _options(data.get("options"), problems)
    options_ok = len(problems) == before
    default_queue = data.get("default_queue")
    if default_queue is not None and not isinstance(default_queue, str):
        problems.append(f"The default queue should be a queue name, not {_show(default_queue)}.")
        default_queue = None
    default_queue = (default_queue or "").strip() or None

    known = None if queues is None else set(queues)
    if known is not None:
        listing = ", ".join(sorted(known)) or "none yet"
        for key, queue in sorted(options.items(), key=lambda kv: KEYS.index(kv[0])):
            if queue not in known:
                problems.append(f"Key {key} goes to queue {queue!r}, which does not exist "
                                f"(queues: {listing}).")
        if default_queue and default_queue not in known:
            problems.append(f"The default queue {default_queue!r} does not exist "
                            f"(queues: {listing}).")
    if options_ok and not options and not default_queue:
        problems.append("The menu has no options and no default queue, so callers could never "
                        "reach anyone; say which key goes to which queue, e.g. 1 for sales.")
    if problems:
        raise MenuError(problems)
    return Menu(name=name, greeting=greeting, options=options, timeout_s=timeout_s,
                retries=retries, invalid_prompt=invalid_prompt, goodbye_prompt=goodbye_prompt,
                default_queue=default_queue)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _text(data: Mapping, key: str, label: str, problems: list[str], *, default: str = "",
          required: bool = False, limit: int = MAX_PROMPT_CHARS) -> str:
    value = data.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            problems.append(f"{label} is missing; write what callers should hear.")
        return default
    if not isinstance(value, str):
        problems.append(f"{label} should be text, not {_show(value)}.")
        return default
    value = " ".join(value.split())
    if len(value) > limit:
        problems.append(f"{label} is too long ({len(value)} characters); keep it under "
                        f"{limit}.")
    return value


def _number(value: Any, problems: list[str]) -> float:
    lo, hi = TIMEOUT_RANGE_S
    try:
        if isinstance(value, bool):
            raise ValueError
        seconds = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        problems.append(f"The time to wait for a key should be a number of seconds, like 6 "
                        f"(got {_show(value)}).")
        return 6.0
    if not lo <= seconds <= hi:
        problems.append(f"The time to wait for a key should be between {lo:g} and {hi:g} "
                        f"seconds (got {seconds:g}).")
    return seconds


def _retries(value: Any, problems: list[str]) -> int:
    try:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError
        count = int(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        problems.append(f"The number of repeats should be a whole number like 2 "
                        f"(got {_show(value)}).")
        return 2
    if not 0 <= count <= MAX_RETRIES:
        problems.append(f"The number of repeats should be between 0 and {MAX_RETRIES} "
                        f"(got {count}).")
    return count


def _options(raw: Any, problems: list[str]) -> dict[str, str]:
    if raw is None:
        return {}
    if isinstance(raw, Mapping):
        pairs = list(raw.items())
    elif isinstance(raw, (list, tuple)):
        pairs = []
        for n, row in enumerate(raw, start=1):
            if isinstance(row, MenuOption):
                pairs.append((row.key, row.queue))
            elif isinstance(row, Mapping) and "key" in row:
                pairs.append((row.get("key"), row.get("queue")))
            else:
                problems.append(f"Option {n} should have a key and a queue, not {_show(row)}.")
    else:
        problems.append(f"The options should list which key goes to which queue, "
                        f"not {_show(raw)}.")
        return {}
    options: dict[str, str] = {}
    for key, queue in pairs:
        if isinstance(key, int) and not isinstance(key, bool):
            key = str(key)
        if not isinstance(key, str) or len(key.strip()) != 1 or key.strip() not in KEYS:
            problems.append(f"{_show(key)} is not a phone key; keys must be one of "
                            f"0-9, * or #.")
            continue
        key = key.strip()
        if not isinstance(queue, str) or not queue.strip():
            problems.append(f"Key {key} does not say which queue it goes to.")
            continue
        if key in options:
            problems.append(f"Key {key} is used twice (for {options[key]!r} and "
                            f"{queue.strip()!r}); each key can go to one queue only.")
            continue
        options[key] = queue.strip()
    return options


# -- one caller in the menu --------------------------------------------------------------

@dataclass(frozen=True)
class Play:
    """Play ``text`` to the caller (then wait ``session.timeout_s`` for a key)."""

    text: str


@dataclass(frozen=True)
class Route:
    """Put the caller in ``queue``; the menu is finished."""

    queue: str


@dataclass(frozen=True)
class Hangup:
    """End the call; ``reason`` says why (e.g. "no_choice")."""

    reason: str


Action = Union[Play, Route, Hangup]


@dataclass
class MenuSession:
    """One caller's way through a menu. Pure: no audio, no clock.

    The line worker calls ``start()``, then ``digit(key)`` for each key and ``timeout()`` when
    ``timeout_s`` has passed after a prompt finished without a key. Wrong keys and silences
    share one allowance of ``menu.retries`` repeats; after that the caller goes to the menu's
    default queue, or hears the goodbye message and (at the next ``timeout()``, due
    ``GOODBYE_GRACE_S`` after it played) the call is hung up. Once finished, calls return None.
    """

    menu: Menu
    repeats: int = 0  # greetings repeated so far (after a wrong key or a silence)
    last_digit: str | None = None  # the most recent key pressed
    chosen_key: str | None = None  # the key that chose the queue (None if routed by default)
    finished: bool = False
    _saying_goodbye: bool = field(default=False, repr=False)

    @property
    def timeout_s(self) -> float:
        return GOODBYE_GRACE_S if self._saying_goodbye else self.menu.timeout_s

    def start(self) -> Play:
        return Play(self.menu.greeting)

    def digit(self, key: str) -> Action | None:
        if self.finished:
            return None
        self.last_digit = key
        queue = self.menu.options.get(key)
        if queue is not None:
            self.chosen_key, self.finished = key, True
            return Route(queue)
        if self._saying_goodbye:
            return self._hang_up()
        return self._try_again(self.menu.repeat_prompt())

    def timeout(self) -> Action | None:
        if self.finished:
            return None
        if self._saying_goodbye:
            return self._hang_up()
        return self._try_again(self.menu.greeting)

    def _try_again(self, prompt: str) -> Action:
        if self.repeats < self.menu.retries:
            self.repeats += 1
            return Play(prompt)
        if self.menu.default_queue:
            self.finished = True
            return Route(self.menu.default_queue)
        self._saying_goodbye = True
        return Play(self.menu.goodbye_prompt)

    def _hang_up(self) -> Hangup:
        self.finished = True
        return Hangup("no_choice")
