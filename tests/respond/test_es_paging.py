"""Reads past Elasticsearch's 10,000-hit window, on the real node.

`search_all` (siem_pack.backends.es) pages a point in time with `search_after` and closes
it; the response workflow reads every alert, source event, anomaly, receipt and workflow
change through it. The big test indexes 10,500 of each under the project's own templates and
drives `alerts list`, `alerts close`, `respond` and `metrics`: every count is 10,500 and the
10,001st-newest alert is found, listed and acted on.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Generator
from datetime import datetime, timedelta
from typing import Any

import elasticsearch
import pytest
from click.testing import CliRunner

from siem_pack.backends.es import by, search_all
from siem_pack.backends.indices import Indices
from siem_pack.cli import main
from siem_pack.detect.alerts import make_alert, write_es
from siem_pack.doctor import probe_cluster
from siem_pack.respond.actions import Outcome
from siem_pack.respond.backend import ESResponseStore, workflow_doc
from siem_pack.respond.respond import receipt
from siem_pack.settings import ClusterSettings
from siem_pack.templates import events_alias, install
from siem_pack.times import format_ts

from .conftest import MODEL, RULES, anomaly

N = 10_500
T0 = datetime(2025, 3, 1, 8, 0, 0)  # in the past: `metrics` ends its period now


class Recorded:
    """The real client, with the point-in-time ids it opened and the searches it ran noted."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.opened: list[str] = []
        self.searches = 0

    def open_point_in_time(self, **kwargs: Any) -> Any:
        res = self.client.open_point_in_time(**kwargs)
        self.opened.append(res["id"])
        return res

    def search(self, **kwargs: Any) -> Any:
        self.searches += 1
        return self.client.search(**kwargs)

    def options(self, **kwargs: Any) -> Any:
        return self.client.options(**kwargs)


def assert_closed(es: Any, pit_id: str) -> None:
    """A closed point in time is gone: searching it answers 404 (search context missing)."""
    with pytest.raises(elasticsearch.NotFoundError):
        es.search(pit={"id": pit_id}, size=1)


@pytest.fixture()
def fifty_docs(es: Any, es_prefix: str) -> str:
    """50 documents over 3 shards, ten at each of five timestamps (ties the tiebreaker orders)."""
    index = f"{es_prefix}paging"
    es.indices.create(index=index, settings={"number_of_shards": 3, "number_of_replicas": 0},
                      mappings={"properties": {"@timestamp": {"type": "date"}, "n": {"type": "integer"}}})
    ops: list[dict[str, Any]] = []
    for n in range(50):
        ops += [{"index": {"_index": index, "_id": f"d{n:02d}"}}, {"@timestamp": format_ts(T0 + timedelta(minutes=n % 5)),
                                                                 "n": n}]
    es.bulk(operations=ops, refresh=True)
    return index


@pytest.mark.elasticsearch
def test_search_all_pages_every_hit_once_and_closes_its_point_in_time(es: Any, fifty_docs: str) -> None:
    rec: Any = Recorded(es)
    hits = list(search_all(rec, fifty_docs, {"match_all": {}}, page_size=7))
    assert sorted(h["_id"] for h in hits) == [f"d{n:02d}" for n in range(50)]  # each once
    times = [h["_source"]["@timestamp"] for h in hits]
    assert times == sorted(times)
    assert rec.searches == 8  # 7 full pages and one of 1
    (pit,) = rec.opened
    assert_closed(es, pit)

    rec = Recorded(es)
    ordered = list(search_all(rec, fifty_docs, {"range": {"n": {"gte": 10}}}, sort=[by("n", "long", "desc")],
                              page_size=10, source=["n"]))
    assert [h["_source"] for h in ordered] == [{"n": n} for n in range(49, 9, -1)]
    assert rec.searches == 5  # 4 full pages, then an empty one says the end
    assert_closed(es, rec.opened[0])


@pytest.mark.elasticsearch
def test_search_all_closes_its_point_in_time_when_the_reader_stops_early(es: Any, fifty_docs: str) -> None:
    rec: Any = Recorded(es)
    pages: Generator[dict[str, Any], None, None] = search_all(rec, fifty_docs, {"match_all": {}}, page_size=7)
    first = [next(pages) for _ in range(10)]  # into the second page
    assert len({h["_id"] for h in first}) == 10
    es.search(pit={"id": rec.opened[0]}, size=1)  # still open while the reader holds it
    pages.close()
    assert_closed(es, rec.opened[0])


@pytest.mark.elasticsearch
def test_search_all_reads_a_missing_index_as_empty(es: Any, es_prefix: str) -> None:
    assert list(search_all(es, f"{es_prefix}nothing", {"match_all": {}})) == []
    assert list(search_all(es, f"{es_prefix}nothing-*", {"match_all": {}})) == []


@pytest.mark.parametrize("page_size", [0, 10_001])
def test_search_all_refuses_a_page_past_the_result_window(page_size: int) -> None:
    no_node: Any = Recorded(None)  # refused before any request
    with pytest.raises(ValueError, match="page_size must be 1..10000"):
        next(search_all(no_node, "x", {"match_all": {}}, page_size=page_size))


def _bulk(es: Any, index: str, docs: list[tuple[str, dict[str, Any]]]) -> None:
    ops: list[dict[str, Any]] = []
    for doc_id, doc in docs:
        ops += [{"create": {"_index": index, "_id": doc_id}}, doc]
    res = es.bulk(operations=ops)
    assert not res["errors"], next(i for i in res["items"] if "error" in i["create"])


@pytest.mark.elasticsearch
@pytest.mark.slow
def test_the_response_workflow_reads_past_ten_thousand(es: Any, es_settings: ClusterSettings, es_prefix: str) -> None:
    """10,500 alerts (one a second), each over one event (60 s before) and one anomalous
    window (30 s before), acknowledged after 60 s and contained (a receipt `done`) after 120 s."""
    install(es, probe_cluster(es_settings), prefix=es_prefix)  # the project's mappings, prefixed
    ix = Indices.prefixed(es_prefix)
    rule = RULES["policy_noncompliant_model_access"]
    alerts = []
    for i in range(N):
        tick = T0 + timedelta(seconds=i)
        alerts.append(make_alert(rule, tick, {"user.id": f"u{i % 50:02d}"}, [f"ev-{i:05d}", f"an-{i:05d}"],
                                 tick - timedelta(seconds=60), {"gen_ai.request.model": MODEL}))
    _bulk(es, f"{es_prefix}{events_alias('litellm_spend')}", [
        (f"ev-{i:05d}", {"@timestamp": format_ts(T0 + timedelta(seconds=i - 60)),
                         "event": {"id": f"ev-{i:05d}", "kind": "event", "dataset": "siem_pack.litellm_spend"},
                         "user": {"id": f"u{i % 50:02d}"}, "siem_pack": {"policy": {"verdict": "noncompliant"}}})
        for i in range(N)])
    _bulk(es, ix.anomalies, [(f"an-{i:05d}", anomaly(f"an-{i:05d}", T0 + timedelta(seconds=i - 30)))
                             for i in range(N)])
    _bulk(es, ix.workflow, [(f"wf-{i:05d}", workflow_doc(f"wf-{i:05d}", T0 + timedelta(seconds=i + 60),
                                                         a["kibana.alert.uuid"], "open", "acknowledged", "alice",
                                                         "triage")) for i, a in enumerate(alerts)])
    receipts = []
    for i, a in enumerate(alerts):
        r = receipt(a["kibana.alert.uuid"], "webhook", a["kibana.alert.uuid"], "execute", False, "alice",
                    Outcome("done", "POST answered 200"), "review", "notify the channel")
        r["@timestamp"] = format_ts(T0 + timedelta(seconds=i + 120))
        receipts.append((r["siem_pack"]["action"]["receipt_id"], r))
    _bulk(es, ix.actions, receipts)
    assert write_es(es, alerts, index=ix.alerts) == (N, 0)
    es.indices.refresh(index=f"{es_prefix}*")
    assert es.count(index=f"{es_prefix}*")["count"] == 5 * N

    env = {"SIEM_PACK_ES_URL": es_settings.es_url or "", "SIEM_PACK_USER": es_settings.user or "",
           "SIEM_PACK_PASSWORD": es_settings.password or "", "SIEM_PACK_PREFIX": es_prefix}
    runner = CliRunner()

    def cli(*args: str) -> Any:
        res = runner.invoke(main, [*args], env=env)
        assert res.exit_code == 0, res.output
        return json.loads(res.output)

    listed = cli("alerts", "list", "--sort", "time", "--json")
    assert len(listed) == N and len({r["kibana.alert.uuid"] for r in listed}) == N
    assert Counter(r["status"] for r in listed) == {"acknowledged": N}  # every workflow change read
    assert listed[0]["kibana.alert.uuid"] == alerts[-1]["kibana.alert.uuid"]  # the newest
    target = alerts[N - 10_001]["kibana.alert.uuid"]  # the 10,001st-newest
    assert listed[10_000]["kibana.alert.uuid"] == target

    assert cli("alerts", "close", target, "--by", "bob", "--reason", "contained", "--json"
               )["siem_pack"]["workflow"]["from_status"] == "acknowledged"
    proposal = cli("respond", target, "--by", "bob", "--json")  # dry run
    assert proposal["alert"] == target and proposal["decision"]["level"] == "review"
    assert [r["siem_pack"]["action"]["result"] for r in proposal["receipts"]] == ["planned"]
    closed = cli("alerts", "list", "--status", "closed", "--json")
    assert [r["kibana.alert.uuid"] for r in closed] == [target]
    assert Counter(r["status"] for r in cli("alerts", "list", "--json")) == {"acknowledged": N - 1, "closed": 1}

    report = cli("metrics", "--no-write", "--json", "--to", "2100-01-01T00:00:00Z")  # the dry run: now
    got = {m["name"]: (m["value"], m["count"]) for m in report["metrics"] if m["scope"] == "all"}
    assert got["alerts"] == (N, N) and got["alerts_contained"] == (N, N)
    assert got["mttd"] == (60.0, N)  # every alert's source events found (21,000 ids)
    assert got["mttr"] == (120.0, N)  # every receipt read
    assert got["stage_open"] == (60.0, N)  # every workflow change read
    assert got["stage_acknowledged"][1] == 1
    assert got["actions_executed"] == (N, N) and got["actions_dry_run"] == (1, 1)
    assert got["anomalies_investigated_share"] == (1.0, N)  # every anomalous window read

    backend = ESResponseStore(es, ix)  # the library on its own: the same figures
    assert len(backend.alerts()) == N and len(backend.receipts()) == N + 1 and len(backend.workflow()) == N + 1
    assert len(backend.events([f"ev-{i:05d}" for i in range(N)])) == N
    assert len(backend.anomaly_ids(None, None)) == N
