"""The offline `geoip` processor against OpenSearch's, on the tests' tiny MaxMind-format
databases (tests.support.geo_db), which scripts/engines.py also loads into OpenSearch.

Differential: the same processor bodies run offline and in OpenSearch's `_simulate` give the
same documents. Plus the generated `siem_pack-geo` pipeline, and the configuration errors.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest

from siem_pack.errors import ConfigError, ContentError
from siem_pack.ingest.geoip import (
    DEFAULT_DB_NAMES,
    GEO_PIPELINE,
    GeoIp,
    compile_pipeline,
    db_dir,
    db_names_in,
    geo_pipeline,
)
from siem_pack.ingest.processors import ProcessorFailure
from tests.support.geo_db import TEST_DB_NAMES, build_test_dbs

IPS = ["89.160.20.156", "81.2.69.144", "216.160.83.56", "175.16.199.10", "10.0.0.1", "2001:db8::1",
       "::ffff:89.160.20.156"]
CITY, ASN = TEST_DB_NAMES["city"], TEST_DB_NAMES["asn"]

# processor bodies, each run over every address in IPS (and the list cases below)
CASES: dict[str, dict[str, Any]] = {
    "city-defaults": {"field": "source.ip", "target_field": "source.geo", "database_file": CITY},
    "city-all-properties": {"field": "source.ip", "target_field": "source.geo", "database_file": CITY,
                            "properties": ["ip", "country_iso_code", "country_name", "continent_name",
                                           "region_iso_code", "region_name", "city_name", "timezone", "location"]},
    "city-default-target": {"field": "source.ip", "database_file": CITY},
    "asn-defaults": {"field": "source.ip", "target_field": "source.as", "database_file": ASN},
    "asn-elastic-properties": {"field": "source.ip", "target_field": "source.as", "database_file": ASN,
                               "properties": ["asn", "organization_name"]},
}
LIST_CASES: dict[str, dict[str, Any]] = {
    "first-only": {"field": "related.ip", "target_field": "x.geo", "database_file": CITY},
    "all-of-list": {"field": "related.ip", "target_field": "x.geo", "database_file": CITY, "first_only": False},
    "asn-all-of-list": {"field": "related.ip", "target_field": "x.as", "database_file": ASN, "first_only": False},
}
LISTS = [["10.0.0.1", "216.160.83.56", "89.160.20.156"], ["10.0.0.1", "192.168.1.1"], ["81.2.69.144"]]


@pytest.fixture(scope="module")
def geo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The databases OpenSearch loaded (SIEM_PACK_TEST_GEOIP_DB), else a fresh build of them."""
    env = os.environ.get("SIEM_PACK_TEST_GEOIP_DB")
    if env and Path(env, CITY).is_file():
        return Path(env)
    folder = tmp_path_factory.mktemp("geo")
    build_test_dbs(folder)
    return folder


def _offline(conf: dict[str, Any], docs: list[dict[str, Any]], folder: Path) -> list[dict[str, Any]]:
    """Run one geoip processor body offline (through the executor's registry entry)."""
    from siem_pack.ingest.processors import PROCESSORS, Build, Conf, IngestDoc

    def no_pipelines(*_: Any) -> Any:
        raise AssertionError("not used")

    build = Build(where="test", compile_processors=no_pipelines, run_pipeline=no_pipelines,
                  pipeline_exists=lambda _: False, geoip_db=folder)
    run = PROCESSORS["geoip"](Conf("geoip", conf, "test"), build)
    out = []
    for d in docs:
        doc = IngestDoc(copy.deepcopy(d), "t")
        run(doc)
        out.append(doc.src)
    return out


def _simulated(opensearch: Any, processors: list[dict[str, Any]], docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    res = opensearch.simulate({"processors": processors}, docs)
    out = []
    for item in res["docs"]:
        assert "error" not in item, item
        out.append(item["doc"]["_source"])
    return out


def test_lookup_matches_maxmind_test_values(geo_dir: Path) -> None:
    city = GeoIp.from_config({"field": "ip", "database_file": CITY}, geo_dir)
    assert city.lookup("89.160.20.156") == {
        "continent_name": "Europe", "country_name": "Sweden", "country_iso_code": "SE", "region_iso_code": "SE-E",
        "region_name": "Östergötland County", "city_name": "Linköping", "location": {"lat": 58.4167, "lon": 15.6167}}
    assert city.lookup("216.160.83.56")["region_iso_code"] == "US-WA"
    assert city.lookup("81.2.69.144")["city_name"] == "London"
    assert city.lookup("10.0.0.1") == {}
    asn = GeoIp.from_config({"field": "ip", "database_file": ASN}, geo_dir)
    assert asn.lookup("89.160.20.156") == {"ip": "89.160.20.156", "asn": 29518, "organization_name": "Bredband2 AB",
                                           "network": "89.160.20.128/25"}
    assert asn.lookup("81.2.69.144") == {}


@pytest.mark.opensearch
@pytest.mark.parametrize("case", sorted(CASES))
def test_geoip_offline_equals_opensearch(case: str, geo_dir: Path, opensearch: Any) -> None:
    conf = CASES[case]
    docs = [{"source": {"ip": ip}} for ip in IPS] + [{"other": 1}]
    conf = {**conf, "ignore_missing": True}
    assert _offline(conf, docs, geo_dir) == _simulated(opensearch, [{"geoip": conf}], docs)


@pytest.mark.opensearch
@pytest.mark.parametrize("case", sorted(LIST_CASES))
def test_geoip_lists_offline_equals_opensearch(case: str, geo_dir: Path, opensearch: Any) -> None:
    conf = LIST_CASES[case]
    docs = [{"related": {"ip": ips}} for ips in LISTS]
    assert _offline(conf, docs, geo_dir) == _simulated(opensearch, [{"geoip": conf}], docs)


@pytest.mark.opensearch
@pytest.mark.parametrize("value", ["not-an-ip", None, 42], ids=["bad-literal", "null", "number"])
def test_geoip_failures_match_opensearch(value: Any, geo_dir: Path, opensearch: Any) -> None:
    conf = {"field": "source.ip", "database_file": CITY}
    doc = {"source": {"ip": value}}
    res = opensearch.simulate({"processors": [{"geoip": conf}]}, [doc])
    os_reason = res["docs"][0]["error"]["reason"]
    with pytest.raises(ProcessorFailure) as err:
        _offline(conf, [doc], geo_dir)
    assert err.value.message == os_reason


@pytest.mark.opensearch
def test_geo_pipeline_offline_equals_opensearch(geo_dir: Path, opensearch: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The generated siem_pack-geo pipeline on the offline executor and on OpenSearch."""
    from siem_pack.ingest.pipeline import pipelines_from_bodies

    monkeypatch.setenv("SIEM_PACK_GEOIP_DB", str(geo_dir))
    body = geo_pipeline()
    docs = [{"source": {"ip": ip}} for ip in IPS] + [{"user": {"id": "u"}}]
    docs.append({"source": {"ip": "89.160.20.156", "geo": {"city_name": "Mumbai"}, "as": {"number": 55256}}})
    expected = _simulated(opensearch, body["processors"], docs)
    assert expected[-1] == docs[-1]  # the log's own geography is kept
    executor = pipelines_from_bodies({GEO_PIPELINE: body}).executor
    got = [executor.run(GEO_PIPELINE, copy.deepcopy(d)).doc for d in docs]
    assert got == expected
    assert expected[0]["source"]["as"] == {"number": 29518, "organization": {"name": "Bredband2 AB"}}
    assert expected[0]["source"]["geo"]["city_name"] == "Linköping"
    assert "as" not in expected[1]["source"] and expected[1]["source"]["geo"]["country_iso_code"] == "GB"


def test_compile_pipeline_shapes() -> None:
    prod = compile_pipeline(DEFAULT_DB_NAMES)
    files = [p["geoip"]["database_file"] for p in prod["processors"] if "geoip" in p]
    assert files == ["GeoLite2-City.mmdb", "GeoLite2-ASN.mmdb"]
    assert all(p[next(iter(p))].get("ignore_missing") for p in prod["processors"])
    assert compile_pipeline({})["processors"] == []
    assert GEO_PIPELINE == "siem_pack-geo"


def test_geo_pipeline_follows_the_configured_folder(geo_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SIEM_PACK_GEOIP_DB", raising=False)
    assert geo_pipeline()["processors"] == []
    monkeypatch.setenv("SIEM_PACK_GEOIP_DB", str(geo_dir))
    assert db_names_in(db_dir()) == {"city": CITY, "asn": ASN}
    assert len(geo_pipeline()["processors"]) == 4


def test_configuration_errors(geo_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        db_dir(tmp_path / "nope")
    with pytest.raises(ConfigError, match=r"database file \[GeoLite2-City.mmdb\] doesn't exist"):
        GeoIp.from_config({"field": "ip"}, tmp_path)
    with pytest.raises(ConfigError, match="--geoip-db DIR or set SIEM_PACK_GEOIP_DB"):
        GeoIp.from_config({"field": "ip"}, None)
    with pytest.raises(ContentError, match=r"illegal property value \[asn\]"):
        GeoIp.from_config({"field": "ip", "database_file": CITY, "properties": ["asn"]}, geo_dir)


def _foundry_gateway_sources(geo_dir: Path, upstream: bool, fixtures: Path | None) -> dict[str, Any]:
    """`source` of each normalized event of the Azure AI Foundry gateway sample (ours, or the
    upstream one), by address, through the entry pipeline with siem_pack-geo on geo_dir."""
    from siem_pack.ingest.formats import FORMATS
    from siem_pack.ingest.pipeline import load_pipelines
    from siem_pack.ingest.reader import Record
    from siem_pack.ingest_job import normalize_records

    pipelines = load_pipelines(geoip_db=geo_dir)
    sample = next(s for s in FORMATS["azure_ai_foundry"].samples if "gateway" in s.path and s.upstream == upstream)
    records = [Record(source=sample.path, line=i + 1, text=t) for i, t in enumerate(sample.records(fixtures))]
    events = normalize_records(records, "azure_ai_foundry", pipelines).events
    return {e["source"]["ip"]: e["source"] for e in events if "ip" in e.get("source", {})}


def test_ingest_adds_geography_to_sample_events(geo_dir: Path) -> None:
    """End to end offline: our Azure AI Foundry gateway sample carries addresses of MaxMind's
    test networks; its normalized events get the test database's geography through siem_pack-geo,
    and a documentation address (203.0.113.0/24) gets none."""
    by_ip = _foundry_gateway_sources(geo_dir, upstream=False, fixtures=None)
    assert by_ip["89.160.20.140"]["geo"]["city_name"] == "Linköping"
    assert by_ip["89.160.20.140"]["as"] == {"number": 29518, "organization": {"name": "Bredband2 AB"}}
    assert by_ip["81.2.69.150"]["geo"]["region_iso_code"] == "GB-ENG"
    assert "as" not in by_ip["81.2.69.150"]
    assert by_ip["216.160.83.60"]["geo"]["country_iso_code"] == "US"
    assert set(by_ip["203.0.113.45"]) == {"ip", "address"}


def test_ingest_adds_geography_to_upstream_events(geo_dir: Path, fixtures_dir: Path) -> None:
    """The same on the upstream Foundry gateway sample (conformance)."""
    by_ip = _foundry_gateway_sources(geo_dir, upstream=True, fixtures=fixtures_dir)
    assert by_ip["89.160.20.156"]["geo"]["city_name"] == "Linköping"
    assert by_ip["89.160.20.156"]["as"] == {"number": 29518, "organization": {"name": "Bredband2 AB"}}
    assert by_ip["81.2.69.144"]["geo"]["region_iso_code"] == "GB-ENG"
    assert "as" not in by_ip["81.2.69.144"]
