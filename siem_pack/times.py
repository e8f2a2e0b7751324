"""Cross-cutting (shared): timestamps and durations, one way for every stage.

Inside siem-pack a time is a naive UTC datetime. `parse_ts` reads any ISO-8601 form into one,
`format_ts` writes one back as `…Z` at the precision the reader expects, and `utcnow` is the
current one. `parse_duration` reads the durations content and options are written in (a rule's
`interval = "5m"` and `from = "now-6m"`, an EQL `maxspan=30s`, `--last`, `--window`, `--grace`)
and raises one error, `DurationError`, with the message its caller names.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from .errors import ConfigError

Timespec = Literal["auto", "seconds", "milliseconds"]
DURATION_UNITS: dict[str, timedelta] = {
    "ms": timedelta(milliseconds=1), "s": timedelta(seconds=1), "m": timedelta(minutes=1),
    "h": timedelta(hours=1), "d": timedelta(days=1),
}
DURATION_MESSAGE = "{text!r} is not a duration like 30s, 15m, 1h or 1d"
_DURATION = re.compile(r"\s*(now-)?(\d+)\s*([a-z]*)\s*")


class DurationError(ConfigError):
    """A duration that cannot be read: the one error `parse_duration` raises."""


def parse_ts(value: Any) -> datetime | None:
    """An ISO-8601 string (Z or offset) or datetime → naive UTC datetime."""
    if value is None:
        return None
    if isinstance(value, datetime):
        dt = value
    else:
        text = str(value).replace("Z", "+00:00")
        dt = datetime.fromisoformat(text)
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return dt


def format_ts(value: datetime | str, timespec: Timespec = "milliseconds") -> str:
    """A timestamp (naive UTC, aware, or ISO-8601 text) → ISO-8601 UTC ending in `Z`.

    `timespec` as `datetime.isoformat` reads it, digits truncated, never rounded:
    "milliseconds" `2026-01-02T03:04:05.678Z` (the form Elasticsearch keeps, and @timestamp),
    "seconds" `2026-01-02T03:04:05Z`, "auto" microseconds only when there are any
    (`2026-01-02T03:04:05Z`, `2026-01-02T03:04:05.000001Z`)."""
    dt = parse_ts(value)
    if dt is None:
        raise ValueError("no timestamp to format")
    return dt.isoformat(timespec=timespec) + "Z"


def utcnow() -> datetime:
    """Now, as a naive UTC datetime."""
    return datetime.now(UTC).replace(tzinfo=None)


def parse_duration(text: str, *, ago: bool = False, ms: bool = False, bare: bool = False,
                   where: str | None = None, message: str = DURATION_MESSAGE) -> timedelta:
    """`30s`, `15m`, `1h`, `1d` → timedelta: a whole number > 0 and a unit, blanks allowed
    around and between them.

    `ago`: a look-back, written `now-15m` (and only so). `ms`: `500ms` is allowed too (EQL's
    maxspan, `--last`). `bare`: a number without a unit counts as seconds (`--window 3600`).
    Anything else raises `DurationError(message, where)`, `{text}` in `message` replaced by
    the text given."""
    m = _DURATION.fullmatch(text or "")
    unit = m.group(3) if m else ""
    known = unit in DURATION_UNITS and (ms or unit != "ms") or (bare and not unit)
    if m is None or bool(m.group(1)) != ago or not known or int(m.group(2)) == 0:
        raise DurationError(message.format(text=text), where=where)
    return int(m.group(2)) * DURATION_UNITS[unit or "s"]
