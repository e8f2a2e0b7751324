"""siem_pack.times: the one parser and formatter of timestamps, `utcnow`, and the one
duration parser with its one error (issue 18)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from siem_pack.baselines.features import parse_window
from siem_pack.detect.eql import parse_eql
from siem_pack.detect.kuery import QuerySyntaxError
from siem_pack.detect.rules import duration_of_from, duration_of_interval
from siem_pack.errors import ConfigError
from siem_pack.times import DurationError, format_ts, parse_duration, parse_ts, utcnow

T = datetime(2026, 3, 2, 9, 5, 7, 123456)


# -- parse_ts -----------------------------------------------------------------------------------
@pytest.mark.parametrize("value,expected", [
    ("2026-03-02T09:05:07.123456Z", T),
    ("2026-03-02T10:05:07.123456+01:00", T),
    ("2026-03-02T04:05:07.123456-05:00", T),
    ("2026-03-02T09:05:07.123456", T),  # no zone: already UTC
    ("2026-03-02", datetime(2026, 3, 2)),
    (T, T),
    (T.replace(tzinfo=UTC), T),
    (datetime(2026, 3, 2, 18, 5, 7, 123456, tzinfo=timezone(timedelta(hours=9))), T),
], ids=["z", "plus-offset", "minus-offset", "naive-text", "date", "naive", "aware-utc", "aware-tokyo"])
def test_parse_ts_gives_naive_utc(value: object, expected: datetime) -> None:
    got = parse_ts(value)
    assert got == expected and got.tzinfo is None


def test_parse_ts_none_and_garbage() -> None:
    assert parse_ts(None) is None
    with pytest.raises(ValueError):
        parse_ts("yesterday")


# -- format_ts ----------------------------------------------------------------------------------
@pytest.mark.parametrize("value,timespec,expected", [
    (T, "milliseconds", "2026-03-02T09:05:07.123Z"),
    (T.replace(microsecond=999999), "milliseconds", "2026-03-02T09:05:07.999Z"),  # truncated, not rounded
    (T.replace(microsecond=0), "milliseconds", "2026-03-02T09:05:07.000Z"),
    (T, "seconds", "2026-03-02T09:05:07Z"),
    (T.replace(microsecond=999999), "seconds", "2026-03-02T09:05:07Z"),
    (T, "auto", "2026-03-02T09:05:07.123456Z"),
    (T.replace(microsecond=0), "auto", "2026-03-02T09:05:07Z"),
    (T.replace(microsecond=1000), "auto", "2026-03-02T09:05:07.001000Z"),
    (T.replace(tzinfo=timezone(timedelta(hours=-5))), "milliseconds", "2026-03-02T14:05:07.123Z"),
    ("2026-03-02T10:05:07.123456+01:00", "milliseconds", "2026-03-02T09:05:07.123Z"),
    ("2026-03-02T09:05:07Z", "auto", "2026-03-02T09:05:07Z"),
])
def test_format_ts(value: datetime | str, timespec: str, expected: str) -> None:
    assert format_ts(value, timespec) == expected  # type: ignore[arg-type]


def test_format_ts_defaults_to_the_elasticsearch_form_and_round_trips() -> None:
    text = format_ts(T)
    assert text == "2026-03-02T09:05:07.123Z"
    assert parse_ts(text) == T.replace(microsecond=123000)


def test_utcnow_is_naive_utc_now() -> None:
    before = datetime.now(UTC).replace(tzinfo=None)
    now = utcnow()
    after = datetime.now(UTC).replace(tzinfo=None)
    assert now.tzinfo is None and before <= now <= after


# -- parse_duration -----------------------------------------------------------------------------
@pytest.mark.parametrize("text,expected", [
    ("30s", timedelta(seconds=30)), ("15m", timedelta(minutes=15)), ("1h", timedelta(hours=1)),
    ("2d", timedelta(days=2)), ("90m", timedelta(minutes=90)), (" 15m ", timedelta(minutes=15)),
    ("15 m", timedelta(minutes=15)),
])
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


def test_parse_duration_options() -> None:
    assert parse_duration("now-6m", ago=True) == timedelta(minutes=6)
    assert parse_duration("500ms", ms=True) == timedelta(milliseconds=500)
    assert parse_duration("3600", bare=True) == timedelta(hours=1)
    assert parse_duration("1h", bare=True, ms=True) == timedelta(hours=1)


@pytest.mark.parametrize("text,options", [
    ("", {}), ("m", {}), ("15", {}), ("1 hour", {}), ("1.5h", {}), ("-5m", {}), ("1w", {}), ("5M", {}),
    ("0s", {}), ("now-0m", {"ago": True}),
    ("500ms", {}),  # ms only where asked for
    ("now-6m", {}), ("6m", {"ago": True}),  # a look-back is written now-…, and only a look-back
    ("3600", {"ms": True}),  # a bare number only where asked for
])
def test_parse_duration_rejects(text: str, options: dict[str, bool]) -> None:
    with pytest.raises(DurationError):
        parse_duration(text, **options)


def test_the_one_error_type_and_its_message() -> None:
    with pytest.raises(DurationError) as info:
        parse_duration("an hour", where="--window")
    err = info.value
    assert isinstance(err, ConfigError) and isinstance(err, ValueError)
    assert err.exit_code == 2 and err.where == "--window"
    assert err.message == "'an hour' is not a duration like 30s, 15m, 1h or 1d"
    assert str(err) == "--window: 'an hour' is not a duration like 30s, 15m, 1h or 1d"
    with pytest.raises(DurationError, match=r"^bad span 'x\{y\}'$"):
        parse_duration("x{y}", message="bad span {text!r}")


# the callers keep the messages they had before there was one parser
@pytest.mark.parametrize("call,message", [
    (lambda: duration_of_interval("5 minutes"), "interval '5 minutes' is not of the form <n><s|m|h|d>"),
    (lambda: duration_of_from("6m"), "from '6m' is not of the form now-<n><s|m|h|d>"),
    (lambda: parse_window("soon"), "--window: bad window 'soon': use e.g. 1h, 30m, 1d"),
], ids=["rule-interval", "rule-from", "jobs-window"])
def test_callers_keep_their_messages(call: object, message: str) -> None:
    with pytest.raises(DurationError) as info:
        call()  # type: ignore[operator]
    assert str(info.value) == message


def test_rule_durations_and_window() -> None:
    assert duration_of_interval("5m") == timedelta(minutes=5)
    assert duration_of_from("now-6m") == timedelta(minutes=6)
    assert parse_window("1h") == parse_window("3600") == 3600


def test_eql_maxspan_error_stays_a_query_error() -> None:
    assert parse_eql("sequence with maxspan=500ms [any where true] [any where true]").maxspan == timedelta(
        milliseconds=500)
    with pytest.raises(QuerySyntaxError, match=r"^bad duration '5x' \(use e.g. 30s, 10m, 2h, 1d\)$"):
        parse_eql("sequence with maxspan=5x [any where true] [any where true]")
