"""Stage 3 tests as a library: every rule's fixture events (`detections/fixtures/<stem>/
hit.ndjson` and `miss.ndjson`) run through the rule on DuckDB (`DuckDBRuleReader` over an
in-memory store) and, given a client, on Elasticsearch (`ESRuleReader` over a throwaway index
written through siem_pack.backends.es). Used by `siem-pack rules test` and tests/detect.

The fixture contract: the rule is evaluated at one tick, the first scheduled run after the
file's newest event (ticks fall on multiples of the interval since the epoch). `hit` must
raise at least one alert there, `miss` none; both backends must return the same alerts.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..backends import es
from ..backends.duckdb import Store
from ..errors import ContentError
from ..paths import content_dir
from ..schema import load_schema
from ..times import format_ts, parse_ts
from .rules import AllowEntry, Rule
from .runner_duckdb import DuckDBRuleReader
from .schedule import evaluate

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

EPOCH = datetime(1970, 1, 1)
KINDS = ("hit", "miss")


def fixture_dir(rule: Rule, root: Path | None = None) -> Path:
    return (root or content_dir("detections")) / "fixtures" / rule.stem


def load_fixture(path: Path) -> list[dict[str, Any]]:
    docs = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            docs.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise ContentError(f"not JSON: {exc.msg}", where=f"{path}:{n}") from exc
    if not docs:
        raise ContentError("empty fixture", where=str(path))
    return docs


def fixture_tick(rule: Rule, docs: Sequence[dict[str, Any]]) -> datetime:
    """The first tick strictly after the newest event."""
    newest = max(parse_ts(d["@timestamp"]) for d in docs)  # type: ignore[type-var]
    assert newest is not None
    step = rule.interval
    n = (newest - EPOCH) // step + 1
    return EPOCH + n * step


def shifted(docs: Sequence[dict[str, Any]], delta: timedelta) -> list[dict[str, Any]]:
    """Fixture events moved in time (so many fixtures can share one index without meeting)."""
    out = []
    for d in docs:
        c = dict(d)
        c["@timestamp"] = format_ts(parse_ts(d["@timestamp"]) + delta)  # type: ignore[operator, arg-type]
        out.append(c)
    return out


def run_duckdb(rule: Rule, docs: Sequence[dict[str, Any]], ticks: Sequence[datetime],
               entries: Sequence[AllowEntry] = ()) -> list[dict[str, Any]]:
    with Store(Path(":memory:")) as store:
        store.write_docs(rule.table, docs)
        return evaluate(rule, DuckDBRuleReader(store), ticks, entries)


def es_index_fixture(client: Elasticsearch, index: str, docs: Sequence[dict[str, Any]]) -> None:
    """Index fixture events (create-only, _id = event.id) into an index mapped from the schema."""
    props = load_schema().es_properties(frozenset({"match_only_text", "wildcard", "constant_keyword"}))
    es.ensure_index(client, index, {"mappings": {"properties": props}, "settings": {"number_of_replicas": 0}})
    written = es.write(client, index, docs, op="create", id_of="event.id", refresh=True)
    if written.refused:
        raise ContentError(f"fixture indexing failed: {written.refused[0].error}", where=index)


def run_es(rule: Rule, docs: Sequence[dict[str, Any]], ticks: Sequence[datetime], client: Elasticsearch,
           prefix: str, entries: Sequence[AllowEntry] = ()) -> list[dict[str, Any]]:
    from .runner_es import ESRuleReader

    index = f"{prefix}-{rule.stem.replace('_', '-')}-{uuid.uuid4().hex[:6]}"
    es_index_fixture(client, index, docs)
    try:
        return evaluate(rule, ESRuleReader(client, events_index=index, anomalies_index=index), ticks, entries)
    finally:
        client.options(ignore_status=[404]).indices.delete(index=index)


@dataclass
class FixtureResult:
    rule: str
    kind: str
    expected: str
    duckdb: int
    elasticsearch: int | None = None
    agree: bool = True
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_rule(rule: Rule, entries: Sequence[AllowEntry] = (), client: Elasticsearch | None = None,
               prefix: str = "siem-pack-rules-test", root: Path | None = None) -> list[FixtureResult]:
    """Run a rule's hit and miss fixtures; a result per file, with its problems."""
    out = []
    for kind in KINDS:
        path = fixture_dir(rule, root) / f"{kind}.ndjson"
        if not path.is_file():
            out.append(FixtureResult(rule.stem, kind, kind, 0, problems=[f"missing fixture {path}"]))
            continue
        docs = load_fixture(path)
        ticks = [fixture_tick(rule, docs)]
        duck = run_duckdb(rule, docs, ticks, entries)
        res = FixtureResult(rule.stem, kind, kind, len(duck))
        if (kind == "hit") != bool(duck):
            res.problems.append(f"duckdb: {len(duck)} alert(s) on {kind} fixture")
        if client is not None:
            es = run_es(rule, docs, ticks, client, prefix, entries)
            res.elasticsearch = len(es)
            if (kind == "hit") != bool(es):
                res.problems.append(f"elasticsearch: {len(es)} alert(s) on {kind} fixture")
            if es != duck:
                res.agree = False
                res.problems.append("duckdb and elasticsearch returned different alerts")
        out.append(res)
    return out
