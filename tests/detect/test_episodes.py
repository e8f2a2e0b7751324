"""Alert suppression: ticks of one identity fold into one episode (Kibana's
`kibana.alert.suppression.*` fields), a new episode opens after the window, both runners
give the same episodes, a later run extends a stored episode in place, every production
rule declares its suppression; and the episode risk ranking."""

from __future__ import annotations

import copy
import dataclasses
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from siem_pack.backends.duckdb import Store
from siem_pack.detect import episodes
from siem_pack.detect.alerts import episodes_duckdb, episodes_es, write_duckdb, write_es
from siem_pack.detect.api import replay
from siem_pack.detect.export import splunk_conf
from siem_pack.detect.fixtures import es_index_fixture, fixture_dir, load_fixture
from siem_pack.detect.rules import Rule, Suppression, parse_rule
from siem_pack.detect.runner_duckdb import DuckDBRuleReader
from siem_pack.detect.runner_es import ESRuleReader
from siem_pack.detect.schedule import evaluate, evaluate_tick_by_tick, raw_alerts, ticks
from siem_pack.errors import SiemPackError
from siem_pack.schema import load_schema
from siem_pack.times import format_ts

from .conftest import BY_STEM

T0 = datetime(2026, 11, 2, 10, 0)
ALICE, BOB = "alice@example.com", "bob@example.com"
HOUR = timedelta(hours=1)


def _secret_event(minutes: int, user: str | None = ALICE, n: int = 0) -> dict[str, Any]:
    doc = copy.deepcopy(load_fixture(fixture_dir(BY_STEM["secret_in_prompt"]) / "hit.ndjson")[0])
    doc["@timestamp"] = format_ts(T0 + timedelta(minutes=minutes))
    doc["event"]["id"] = f"ev-{minutes}-{user}-{n}"
    if user is None:
        doc.pop("user")
    else:
        doc["user"] = {"id": user}
    return doc


def _rule(missing: str = "suppress", duration: timedelta = HOUR) -> Rule:
    """secret_in_prompt (a query rule, every 5 minutes over 6), suppressing by user.id."""
    return dataclasses.replace(BY_STEM["secret_in_prompt"],
                               suppression=Suppression(("user.id",), duration, missing))  # type: ignore[arg-type]


# alice at 10:00, 10:20, 10:50 (one episode: within an hour of its first alert at 10:05) and
# 11:10 (raised 11:15, 70 minutes after: a new episode); bob at 10:10 (his own episode)
EVENTS = [_secret_event(0), _secret_event(20), _secret_event(50), _secret_event(70), _secret_event(10, BOB)]
TICKS = ticks(T0 - HOUR, T0 + 2 * HOUR, timedelta(minutes=5))


@pytest.fixture()
def store(tmp_path: Path) -> Any:
    with Store(tmp_path / "e.duckdb") as s:
        s.write_docs("events", EVENTS)
        yield s


def _summary(alerts: list[dict[str, Any]]) -> list[tuple[str, str, int, str, str, str]]:
    return [(a["user.id"], a["@timestamp"], a[episodes.DOCS_COUNT], a[episodes.START], a[episodes.END],
             a[episodes.LAST_DETECTED]) for a in alerts]


def test_ticks_fold_into_one_episode_and_a_new_one_opens_after_the_window(store: Store) -> None:
    rule = _rule()
    backend = DuckDBRuleReader(store)
    assert len(raw_alerts(rule, backend, TICKS)) == 5  # one per event without suppression
    got = evaluate(rule, backend, TICKS)
    assert _summary(got) == [
        (ALICE, "2026-11-02T10:05:00.000Z", 2, "2026-11-02T10:00:00.000Z", "2026-11-02T10:50:00.000Z",
         "2026-11-02T10:55:00.000Z"),
        (BOB, "2026-11-02T10:15:00.000Z", 0, "2026-11-02T10:10:00.000Z", "2026-11-02T10:10:00.000Z",
         "2026-11-02T10:15:00.000Z"),
        (ALICE, "2026-11-02T11:15:00.000Z", 0, "2026-11-02T11:10:00.000Z", "2026-11-02T11:10:00.000Z",
         "2026-11-02T11:15:00.000Z"),
    ]
    first = got[0]
    assert first[episodes.TERMS] == [{"field": "user.id", "value": ALICE}]
    assert first[episodes.INSTANCE_ID] == got[2][episodes.INSTANCE_ID] != got[1][episodes.INSTANCE_ID]
    assert first["kibana.alert.ancestors"] == ["ev-0-alice@example.com-0"]  # the episode's first alert, as Kibana
    assert evaluate_tick_by_tick(rule, backend, TICKS) == got


def test_the_window_is_measured_from_the_first_alert(store: Store) -> None:
    """Kibana's test: an alert joins an episode raised at most `duration` before it (not
    a window sliding with each suppressed alert). Two hours: all of alice's alerts fold."""
    got = evaluate(_rule(duration=2 * HOUR), DuckDBRuleReader(store), TICKS)
    assert [(a["user.id"], a[episodes.DOCS_COUNT]) for a in got] == [(ALICE, 3), (BOB, 0)]


def test_missing_fields_strategy(tmp_path: Path) -> None:
    with Store(tmp_path / "m.duckdb") as s:
        s.write_docs("events", [_secret_event(0, None), _secret_event(20, None, 1), _secret_event(30)])
        backend = DuckDBRuleReader(s)
        folded = evaluate(_rule("suppress"), backend, TICKS)
        kept = evaluate(_rule("doNotSuppress"), backend, TICKS)
    assert [(a.get("user.id"), a[episodes.DOCS_COUNT]) for a in folded] == [(None, 1), (ALICE, 0)]
    assert folded[0][episodes.TERMS] == [{"field": "user.id", "value": None}]
    assert [(a.get("user.id"), a[episodes.DOCS_COUNT]) for a in kept] == [(None, 0), (None, 0), (ALICE, 0)]


def test_threshold_rules_suppress_by_their_threshold_fields(tmp_path: Path) -> None:
    """guardrail_violation_burst (5 in 15 minutes per user.id, suppressed 1h): the same burst
    seen by three overlapping windows, and a second burst 30 minutes later, are one episode."""
    rule = BY_STEM["guardrail_violation_burst"]
    assert rule.suppression is not None and rule.suppression.group_by == ("user.id",)
    docs = load_fixture(fixture_dir(rule) / "hit.ndjson")
    later = copy.deepcopy(docs)
    for d in later:
        d["event"]["id"] += "-later"
        d["@timestamp"] = format_ts(datetime.fromisoformat(d["@timestamp"].rstrip("Z")) + timedelta(minutes=30))
    with Store(tmp_path / "t.duckdb") as s:
        s.write_docs("events", docs + later)
        backend = DuckDBRuleReader(s)
        raw = raw_alerts(rule, backend, TICKS)
        got = evaluate(rule, backend, TICKS)
    assert len(raw) >= 2
    assert len(got) == 1 and got[0][episodes.DOCS_COUNT] == len(raw) - 1
    assert got[0][episodes.TERMS] == [{"field": "user.id", "value": ALICE}]


def test_a_later_run_extends_the_stored_episode(store: Store) -> None:
    """Run 1 ends at 10:40: alice's episode holds two alerts. Run 2 (10:40–12:00, stored
    episodes read first) folds the 10:50 alert into it, in place, and opens the 11:15 one;
    run 2 again changes nothing."""
    rule = _rule()
    backend = DuckDBRuleReader(store)
    split = T0 + timedelta(minutes=40)
    one = replay(backend, T0 - HOUR, split, [rule], [])
    assert write_duckdb(store, one) == (2, 0)
    prior = episodes_duckdb(store, split - HOUR)
    two = replay(backend, split, T0 + 2 * HOUR, [rule], [], prior)
    assert [(a["user.id"], a[episodes.DOCS_COUNT]) for a in two] == [(ALICE, 2), (ALICE, 0)]
    assert write_duckdb(store, two) == (1, 1)  # the new episode stored; the first advanced in place
    stored = {a["kibana.alert.uuid"]: a for a in episodes_duckdb(store, T0 - HOUR)}
    assert _summary(sorted(stored.values(), key=lambda a: (a["@timestamp"], a["user.id"]))) == \
        _summary(evaluate(rule, backend, TICKS))  # the same episodes as one run over the whole period
    again = replay(backend, split, T0 + 2 * HOUR, [rule], [], episodes_duckdb(store, split - HOUR))
    assert write_duckdb(store, again) == (0, 2)
    assert {a["kibana.alert.uuid"]: a for a in episodes_duckdb(store, T0 - HOUR)} == stored


def test_writing_a_shorter_replay_never_shrinks_an_episode(store: Store) -> None:
    rule = _rule()
    backend = DuckDBRuleReader(store)
    whole = evaluate(rule, backend, TICKS)
    write_duckdb(store, whole)
    write_duckdb(store, evaluate(rule, backend, TICKS[:14]))  # up to 10:05: alice's episode of one
    assert _summary(episodes_duckdb(store, T0 - HOUR)) == _summary(whole)


@pytest.mark.elasticsearch
def test_duckdb_and_elasticsearch_give_the_same_episodes(es: Any, es_prefix: str, store: Store) -> None:
    index = f"{es_prefix}-episodes"
    es_index_fixture(es, index, EVENTS)
    esb, duck = ESRuleReader(es, index, index), DuckDBRuleReader(store)
    for rule in (_rule(), _rule("doNotSuppress"), _rule(duration=2 * HOUR)):
        got = evaluate(rule, esb, TICKS)
        assert got == evaluate(rule, duck, TICKS)
        assert got == evaluate_tick_by_tick(rule, esb, TICKS)
    # the later run extends the stored episode on the cluster too
    rule, alerts_index = _rule(), f"{es_prefix}-alerts"
    split = T0 + timedelta(minutes=40)
    assert write_es(es, replay(esb, T0 - HOUR, split, [rule], []), alerts_index) == (2, 0)
    two = replay(esb, split, T0 + 2 * HOUR, [rule], [], episodes_es(es, split - HOUR, alerts_index))
    assert write_es(es, two, alerts_index) == (1, 1)
    es.indices.refresh(index=alerts_index)
    on_es = sorted(episodes_es(es, T0 - HOUR, alerts_index), key=lambda a: (a["@timestamp"], a["user.id"]))
    assert _summary(on_es) == _summary(evaluate(rule, duck, TICKS))


# -- content -----------------------------------------------------------------------------------
def test_every_rule_suppresses_by_its_entity(rule: Rule) -> None:
    """Every production rule (files and templates; a new file too) declares alert_suppression
    by its entity, for 1 to 24 hours."""
    sup = rule.suppression
    assert sup is not None, f"{rule.path.name}: add a [rule.alert_suppression] table"
    entity = {"user.id", "siem_pack.api_key.id", "gen_ai.request.model", "event.dataset"}
    if rule.threshold is not None:
        assert sup.group_by == rule.threshold.fields
    else:
        assert set(sup.group_by) & entity, rule.path.name
    assert HOUR <= sup.duration <= 24 * HOUR, rule.path.name


def _problems(path: Path, text: str) -> list[str]:
    with pytest.raises(SiemPackError) as exc:
        parse_rule(path, text, load_schema())
    return [str(p) for p in getattr(exc.value, "problems", [exc.value])]


RULE_TEXT = (fixture_dir(BY_STEM["secret_in_prompt"]).parent.parent / "secret_in_prompt.toml").read_text()
BLOCK = '''[rule.alert_suppression]
group_by = ["user.id"]
missing_fields_strategy = "doNotSuppress"

[rule.alert_suppression.duration]
unit = "h"
value = 1
'''


@pytest.mark.parametrize(("replacement", "message"), [
    ('[rule.alert_suppression]\ngroup_by = ["user.id"]\n\n[rule.alert_suppression.duration]\nunit = "m"\nvalue = 2\n',
     "duration 2m is shorter than the rule's interval: nothing would be suppressed"),
    ('[rule.alert_suppression]\ngroup_by = ["user.id"]\n\n[rule.alert_suppression.duration]\nunit = "d"\nvalue = 1\n',
     "duration {'unit': 'd', 'value': 1}: unit is one of s, m, h and value an integer >= 1"),
    ('[rule.alert_suppression]\ngroup_by = []\n\n[rule.alert_suppression.duration]\nunit = "h"\nvalue = 1\n',
     "group_by must list 1 to 3 distinct field names"),
    ('[rule.alert_suppression]\ngroup_by = ["user.id"]\n', "needs duration"),
    ('[rule.alert_suppression]\ngroup_by = ["user.id"]\nmissing_fields_strategy = "drop"\n\n'
     '[rule.alert_suppression.duration]\nunit = "h"\nvalue = 1\n', "missing_fields_strategy 'drop'"),
    ('[rule.alert_suppression]\ngroup_by = ["no.such.field"]\n\n[rule.alert_suppression.duration]\nunit = "h"\n'
     'value = 1\n', "field 'no.such.field' is not in schema/fields.yml"),
], ids=["shorter-than-interval", "days", "no-fields", "no-duration", "unknown-strategy", "unknown-field"])
def test_bad_suppression_is_a_content_error(replacement: str, message: str, tmp_path: Path) -> None:
    assert BLOCK in RULE_TEXT
    lines = _problems(tmp_path / "secret_in_prompt.toml", RULE_TEXT.replace(BLOCK, replacement))
    assert any(message in line for line in lines), lines


def test_threshold_rules_take_only_a_duration(tmp_path: Path) -> None:
    rule = BY_STEM["identity_multiple_countries"]
    text = rule.path.read_text().replace("[rule.alert_suppression.duration]",
                                         '[rule.alert_suppression]\ngroup_by = ["user.id"]\n\n'
                                         "[rule.alert_suppression.duration]")
    line = text.splitlines().index("[rule.alert_suppression]") + 1
    assert _problems(rule.path, text) == [
        f"{rule.path}:{line}: [rule.alert_suppression]: unknown key(s) for a threshold rule: group_by; known: duration"]


def test_splunk_throttles_like_the_suppression() -> None:
    conf, _ = splunk_conf([BY_STEM["secret_in_prompt"]])
    assert "alert.suppress = 1\nalert.suppress.period = 3600s\nalert.suppress.fields = user.id\n" in conf


# -- ranking -----------------------------------------------------------------------------------
def _alert(uid: str, rule: str, risk: int, at: str, **extra: Any) -> dict[str, Any]:
    return {"kibana.alert.uuid": uid, "kibana.alert.rule.rule_id": rule, "kibana.alert.risk_score": risk,
            "@timestamp": at, "kibana.alert.original_time": at, **extra}


def test_episodes_ranked_by_risk() -> None:
    alerts = [
        _alert("a", "r-secret", 47, "2026-11-02T10:00:00.000Z", **{"user.id": "u1"}),
        _alert("b", "r-noncompliant", 73, "2026-11-02T10:30:00.000Z", **{"user.id": "u2"}),
        _alert("c", "r-offhours", 47, "2026-11-02T12:00:00.000Z",
               **{"user.id": "u1", "siem_pack.model.tier": "restricted"}),
        _alert("d", "r-anomaly", 47, "2026-11-02T13:00:00.000Z",
               **{"user.id": "u3", "siem_pack.anomaly.risk_score": 99.0}),
        _alert("e", "r-secret", 47, "2026-11-05T10:00:00.000Z", **{"user.id": "u1"}),  # days later: alone
        _alert("f", "r-secret", 47, "2026-11-05T09:00:00.000Z", **{"user.id": "u4"}),
    ]
    got = episodes.ranked(alerts, tier_of=lambda a: "confidential" if a["kibana.alert.uuid"] == "b" else "internal")
    assert [(r.alert["kibana.alert.uuid"], r.risk_score) for r in got] == [
        ("b", 83), ("c", 77), ("a", 57), ("d", 56), ("e", 47), ("f", 47)]  # ties: newest first
    by = {r.alert["kibana.alert.uuid"]: r.factors for r in got}
    assert by["c"] == {"rule": 47, "tier": 20, "other_rules": 10}
    assert by["b"] == {"rule": 73, "tier": 10}
    assert by["d"] == {"rule": 47, "anomaly": 9}


def test_same_rule_episodes_and_the_cap() -> None:
    at = [f"2026-11-02T0{h}:00:00.000Z" for h in range(1, 6)]
    alerts = [_alert(f"s{i}", "r", 99, t, **{"user.id": "u1", "siem_pack.model.tier": "restricted"})
              for i, t in enumerate(at)]
    scores = episodes.episode_risk(alerts)
    assert all(s.risk_score == 100 for s in scores)  # 99 + 20 + 6, capped
    assert scores[0].factors["same_rule"] == episodes.SAME_RULE_MAX


def test_alert_documents_carry_the_episode_fields(store: Store) -> None:
    doc = json.loads(json.dumps(evaluate(_rule(), DuckDBRuleReader(store), TICKS)[0]))
    assert set(episodes.SUPPRESSION_FIELDS) <= set(doc)
