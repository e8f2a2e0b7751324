"""Stage 1 → 2: the date processor: ISO8601, UNIX, UNIX_MS and java.time patterns parsed to
Elasticsearch's default output (yyyy-MM-dd'T'HH:mm:ss.SSSXXX).

Neighbours: base.py, paths.py, mustache.py (templated timezone), convert.py (Java number
parsing); registry.py lists it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ...errors import ContentError
from .base import Build, Conf, IngestDoc, ProcessorFailure, Run
from .convert import _JAVA_INT, _parse_double
from .mustache import compile_template
from .paths import get_field, set_field
from .render import java_str


def _tz(name: str) -> tzinfo:
    if name in ("UTC", "Z", "GMT"):
        return UTC
    m = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", name)
    if m:
        delta = timedelta(hours=int(m.group(2)), minutes=int(m.group(3)))
        return timezone(-delta if m.group(1) == "-" else delta)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ProcessorFailure(f"Unknown time-zone ID: {name}") from None


def _offset(text: str) -> tzinfo:
    if text in ("Z", "z"):
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    h, mnt = int(digits[:2]), int(digits[2:4] or 0)
    return timezone(sign * timedelta(hours=h, minutes=mnt))


_ISO = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?"
                  r"(Z|[+-]\d{2}(?::?\d{2})?)?)?)?)?")
DateParser = Callable[[str, tzinfo], datetime]


def _mk(y: int, mo: int, d: int, h: int, mi: int, s: int, frac: str | None, tz: tzinfo, text: str) -> datetime:
    if not 0 <= h <= 23:
        raise ProcessorFailure(f"Invalid value for HourOfDay (valid values 0 - 23): {h}")
    if not 0 <= mi <= 59:
        raise ProcessorFailure(f"Invalid value for MinuteOfHour (valid values 0 - 59): {mi}")
    if not 0 <= s <= 59:
        raise ProcessorFailure(f"Invalid value for SecondOfMinute (valid values 0 - 59): {s}")
    if not 1 <= mo <= 12:
        raise ProcessorFailure(f"Invalid value for MonthOfYear (valid values 1 - 12): {mo}")
    us = int((frac or "0")[:3].ljust(3, "0")) * 1000  # Elasticsearch keeps milliseconds
    try:
        return datetime(y, mo, d, h, mi, s, us, tzinfo=tz)
    except ValueError:
        raise ProcessorFailure(f"Text '{text}' could not be parsed: Invalid date") from None


def _iso8601(text: str, tz: tzinfo) -> datetime:
    m = _ISO.fullmatch(text)
    if not m:
        raise ProcessorFailure(f"Text '{text}' could not be parsed at index 0")
    y, mo, d, h, mi, s, frac, off = m.groups()
    return _mk(int(y), int(mo or 1), int(d or 1), int(h or 0), int(mi or 0), int(s or 0), frac,
               _offset(off) if off else tz, text)


def _unix(text: str, tz: tzinfo) -> datetime:
    ms = int(_parse_double(text) * 1000)
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)


def _unix_ms(text: str, tz: tzinfo) -> datetime:
    if not _JAVA_INT.match(text):
        raise ProcessorFailure(f'For input string: "{text}"')
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(text))


_MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december"]
_PAT_TOKEN = re.compile(r"'[^']*'|([A-Za-z])\1*|.", re.S)


Token = tuple[str, str]  # (regex, the group it fills)


def _year_token(ch: str, n: int) -> Token | None:
    return (r"(\d{2})" if n == 2 else r"([+-]?\d{4,9})" if n >= 4 else r"(\d{1,9})"), ("yy" if n == 2 else "y")


def _month_token(ch: str, n: int) -> Token | None:
    if n >= 3:
        return (r"([A-Za-z]{3,9})" if n > 3 else r"([A-Za-z]{3})"), "Mtext"
    return (r"(\d{2})" if n == 2 else r"(\d{1,2})"), "M"


def _number_token(ch: str, n: int) -> Token | None:
    return (r"(\d{2})" if n == 2 else r"(\d{1,2})"), ch


def _offset_token(ch: str, n: int) -> Token | None:
    return (r"(Z|[+-]\d{2}(?::?\d{2})?)" if ch == "X" else r"([+-]\d{2}:?\d{2}|Z)"), "off"


def _zone_token(ch: str, n: int) -> Token | None:
    return (r"([A-Za-z_]+(?:/[A-Za-z_]+)*|[+-]\d{2}:\d{2}|Z|UTC)", "zone") if n == 2 else None


# The registry: a java.time pattern letter → (its regex, the group it fills) for a run of n of
# it, or None when that length is not supported.
PATTERN_LETTERS: dict[str, Callable[[str, int], Token | None]] = {
    "y": _year_token, "u": _year_token,
    "M": _month_token, "L": _month_token,
    **dict.fromkeys("dHhms", _number_token),
    "S": lambda ch, n: (rf"(\d{{{n}}})", "S"),
    "a": lambda ch, n: (r"(AM|PM|am|pm)", "a"),
    "E": lambda ch, n: (r"([A-Za-z]{3,9})", "E"),
    **dict.fromkeys("XZx", _offset_token),
    "V": _zone_token,
}


def _java_pattern(pattern: str, where: str) -> DateParser:
    """A java.time pattern (yyyy MM MMM dd HH hh mm ss SSS a EEE XXX Z VV 'lit') → parser."""
    rx: list[str] = []
    groups: list[str] = []
    for m in _PAT_TOKEN.finditer(pattern):
        tok = m.group(0)
        ch, n = tok[0], len(tok)
        if tok.startswith("'"):
            rx.append(re.escape(tok[1:-1]) if n > 2 else "'")
            continue
        if not ch.isalpha():
            rx.append(re.escape(tok))
            continue
        letter = PATTERN_LETTERS.get(ch)
        token = letter(ch, n) if letter else None
        if token is None:
            raise ContentError(f"date format {pattern!r}: pattern letter {tok!r} is not supported by the offline "
                               "executor; supported: y u M L d H h m s S a E X x Z VV and 'quoted text'", where=where)
        rx.append(token[0])
        groups.append(token[1])
    regex = re.compile("".join(rx))

    def parse(text: str, tz: tzinfo) -> datetime:
        m = regex.fullmatch(text)
        if not m:
            raise ProcessorFailure(f"Text '{text}' could not be parsed at index 0")
        vals: dict[str, Any] = {}
        for g, v in zip(groups, m.groups(), strict=True):
            vals[g] = v
        if "yy" in vals:
            year = 2000 + int(vals["yy"])
        elif "y" in vals:
            year = int(vals["y"])
        else:
            year = datetime.now(UTC).year
        if "Mtext" in vals:
            name = vals["Mtext"].lower()
            idx = [i for i, mn in enumerate(_MONTHS) if mn == name or mn[:3] == name]
            if not idx:
                raise ProcessorFailure(f"Text '{text}' could not be parsed at index 0")
            month = idx[0] + 1
        else:
            month = int(vals.get("M", 1))
        hour = int(vals.get("H", vals.get("h", 0)))
        if "h" in vals and not 1 <= hour <= 12:
            raise ProcessorFailure(f"Text '{text}' could not be parsed: Invalid value for ClockHourOfAmPm "
                                   f"(valid values 1 - 12): {hour}")
        if "a" in vals:
            hour = hour % 12 + (12 if vals["a"].lower() == "pm" else 0)
        zone = tz
        if vals.get("off"):
            zone = _offset(vals["off"])
        elif vals.get("zone"):
            zone = _tz(vals["zone"])
        return _mk(year, month, int(vals.get("d", 1)), hour, int(vals.get("m", 0)), int(vals.get("s", 0)),
                   vals.get("S"), zone, text)
    return parse


def date_parser(fmt: str, where: str) -> DateParser:
    if fmt == "ISO8601":
        return _iso8601
    if fmt == "UNIX":
        return _unix
    if fmt == "UNIX_MS":
        return _unix_ms
    if fmt in ("TAI64N",):
        raise ContentError(f"date format {fmt} is not supported by the offline executor; "
                           "supported: ISO8601, UNIX, UNIX_MS and java.time patterns", where=where)
    return _java_pattern(fmt, where)


def format_date(dt: datetime) -> str:
    """Elasticsearch's default date output: yyyy-MM-dd'T'HH:mm:ss.SSSXXX."""
    off = dt.utcoffset() or timedelta(0)
    if not off.seconds % 60 and not off.microseconds:  # whole minutes: isoformat says the same, faster
        text = dt.isoformat(timespec="milliseconds")
        return text[:-6] + "Z" if not off else text
    base = f"{dt.year:04d}-" + dt.strftime("%m-%dT%H:%M:%S") + f".{dt.microsecond // 1000:03d}"  # %Y: no padding
    if not off:
        return base + "Z"
    secs = int(off.total_seconds())
    sign = "+" if secs >= 0 else "-"
    secs = abs(secs)
    return f"{base}{sign}{secs // 3600:02d}:{secs % 3600 // 60:02d}"


def date_processor(c: Conf, b: Build) -> Run:
    field = c.str("field", required=True)
    target = c.str("target_field", "@timestamp")
    formats = c.str_list("formats", required=True)
    if not formats:
        raise c.error("[formats] property isn't a list, but of type [null]")
    parsers = [date_parser(f, c.where) for f in formats]
    tzname = c.str("timezone")
    tz_t = compile_template(tzname, c.where) if tzname else None
    locale = c.str("locale")
    if locale not in (None, "en", "ENGLISH", "en_US", "ROOT"):
        raise c.error(f"locale {locale!r} is not supported by the offline executor; supported: en, ENGLISH, ROOT")
    c.done()

    def run(doc: IngestDoc) -> None:
        v = get_field(doc, field)
        tz = _tz(tz_t(doc)) if tz_t else UTC
        text = java_str(v)
        err: ProcessorFailure | None = None
        for p in parsers:
            try:
                dt = p(text, tz)
                break
            except (ProcessorFailure, ValueError, OverflowError) as exc:
                err = exc if isinstance(exc, ProcessorFailure) else ProcessorFailure(f"unable to parse date [{text}]")
        else:
            raise err or ProcessorFailure(f"unable to parse date [{text}]")
        set_field(doc, target, format_date(dt.astimezone(tz)))
    return run
