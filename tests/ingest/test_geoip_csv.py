"""Geography from a CSV the user keeps (siem_pack.ingest.geoip_csv, `siem-pack geoip build`):
the CSV's validation (every problem at once, as FILE:LINE), the most specific network
winning, and `source.geo` / `source.as` on records of our own samples: offline from the CSV
itself and from the built folder, and on the real OpenSearch node, which loaded the same
CSV's databases (tests.support.geo_db.TEST_CSV, built by scripts/engines.py into its
config/ingest-geoip/), giving the documents the offline executor gives.

The sample records used: azure_ai_foundry-gateway.ndjson from 203.0.113.45 (the CSV's /24:
Amsterdam, AS64500) and kong_ai.ndjson from 203.0.113.201 (the city of the /25 inside it,
Berlin, with the AS of the /24), plus 198.51.100.14 (an AS-only row) and 81.2.69.152 (not in
the CSV: nothing).
"""

from __future__ import annotations

import copy
import json
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from siem_pack.backends.duckdb import Store
from siem_pack.cli import main
from siem_pack.errors import ContentError, ContentErrors
from siem_pack.ingest.formats import FORMATS
from siem_pack.ingest.geoip import GEO_PIPELINE, GeoIp, compile_pipeline
from siem_pack.ingest.geoip_csv import CSV_DB_NAMES, build_databases, read_csv
from siem_pack.ingest.pipeline import ENTRY, PipelineSet, load_pipelines
from siem_pack.ingest_job import ingest
from siem_pack.paths import content_dir
from tests.support.geo_db import TEST_CSV, TEST_CSV_DB_NAMES
from tests.support.pipelines import prefix_names

SAMPLES = content_dir("ingest_pipelines") / "samples"
FOUNDRY = next(s for s in FORMATS["azure_ai_foundry"].own_samples if s.name == "azure_ai_foundry-gateway.ndjson")
KONG = next(s for s in FORMATS["kong_ai"].own_samples if s.name == "kong_ai.ndjson")

# source.ip → (geo.country_iso_code, geo.city_name, as.organization.name, as.number)
EXPECTED: dict[str, tuple[str | None, str | None, str | None, int | None]] = {
    "203.0.113.45": ("NL", "Amsterdam", "Example Transit B.V.", 64500),
    "203.0.113.201": ("DE", "Berlin", "Example Transit B.V.", 64500),
    "198.51.100.14": (None, None, "Example Org Only", 64502),
    "81.2.69.152": (None, None, None, None),
}


def _run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, list(args))
    return r.exit_code, r.stdout, r.stderr


def _geo(source: dict[str, Any]) -> tuple[str | None, str | None, str | None, int | None]:
    geo, asn = source.get("geo") or {}, source.get("as") or {}
    return (geo.get("country_iso_code"), geo.get("city_name"), (asn.get("organization") or {}).get("name"),
            asn.get("number"))


def _by_ip(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["source"]["ip"]: d["source"] for d in docs if "ip" in d.get("source", {})}


@pytest.fixture()
def geo_csv(tmp_path: Path) -> Path:
    """The tests' CSV of networks (TEST_CSV) as a file."""
    path = tmp_path / "networks.csv"
    path.write_text(TEST_CSV, encoding="utf-8")
    return path


def _write(tmp_path: Path, text: str, name: str = "geo.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ---- the build command ------------------------------------------------------------------------
def test_build_writes_city_and_asn_databases(geo_csv: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "geo-db"
    code, out, err = _run("geoip", "build", str(geo_csv), "--out", str(out_dir))
    assert code == 0, err
    city, asn = out_dir / CSV_DB_NAMES["city"], out_dir / CSV_DB_NAMES["asn"]
    assert f"built from {geo_csv}: 7 rows\n" in out
    assert f"  wrote {city}: 6 networks → source.geo\n" in out
    assert f"  wrote {asn}: 4 networks → source.as\n" in out
    assert f"--geoip-db {out_dir}" in out and "config/ingest-geoip/" in out
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(CSV_DB_NAMES.values())  # no .tmp left behind
    code, out, _ = _run("geoip", "build", str(geo_csv), "--out", str(out_dir), "--json")
    summary = json.loads(out)
    assert code == 0 and summary["rows"] == 7
    assert {k: v["networks"] for k, v in summary["databases"].items()} == {"city": 6, "asn": 4}
    assert summary["pipeline_id"] == GEO_PIPELINE
    assert summary["pipeline"] == compile_pipeline(CSV_DB_NAMES)


def test_a_csv_without_as_values_writes_no_asn_database(tmp_path: Path) -> None:
    csv = _write(tmp_path, "network,country_iso_code,country_name,city_name\n192.0.2.0/24,US,United States,\n")
    out_dir = tmp_path / "geo-db"
    out_dir.mkdir()
    (out_dir / CSV_DB_NAMES["asn"]).write_bytes(b"stale")
    code, out, err = _run("geoip", "build", str(csv), "--out", str(out_dir))
    assert code == 0, err
    assert "  no asn database: no row has an asn or as_org\n" in out
    assert [p.name for p in out_dir.iterdir()] == [CSV_DB_NAMES["city"]]  # the stale one is gone


def test_without_mmdb_writer_it_says_so(geo_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mmdb_writer", None)  # as if not installed
    code, out, err = _run("geoip", "build", str(geo_csv), "--out", str(tmp_path / "out"))
    assert code == 2 and out == ""
    assert err == ("siem-pack: error: geoip build: building .mmdb files needs the mmdb-writer package "
                   "(pip install mmdb-writer)\n")
    assert not (tmp_path / "out").exists()


# ---- validation --------------------------------------------------------------------------------
BAD_CSV = """\
network,country_iso_code,country_name,latitude,longitude,asn
203.0.113.0/33,NL,Netherlands,52.37,4.90,64500
198.51.100.0/24,DE,Germany,91,13.40,64501
192.0.2.1/24,FR,France,,,
2001:db8::/32,JP,Japan,35.67,139.65,AS12x

203.0.113.0/24,NL,Netherlands,52.37,4.90
10.0.0.0/8,,,,,
"""


def test_every_problem_is_reported_at_once_with_file_and_line(tmp_path: Path) -> None:
    csv = _write(tmp_path, BAD_CSV)
    out_dir = tmp_path / "geo-db"
    code, out, err = _run("geoip", "build", str(csv), "--out", str(out_dir))
    assert code == 1 and out == ""
    assert err == (
        "siem-pack: error: 7 problem(s):\n"
        f"  {csv}:1: header lacks column(s) city_name; columns: network, country_iso_code, country_name, city_name, "
        "region_name, latitude, longitude, asn, as_org\n"
        f"  {csv}:2: network '203.0.113.0/33' is not an IP address or CIDR\n"
        f"  {csv}:3: latitude 91 is out of range (-90 to 90)\n"
        f"  {csv}:4: network '192.0.2.1/24' has host bits set (the network is 192.0.2.0/24)\n"
        f"  {csv}:5: asn 'AS12x' is not an AS number (0 to 4294967295, optionally AS-prefixed)\n"
        f"  {csv}:7: 5 field(s), the header has 6\n"
        f"  {csv}:8: network 10.0.0.0/8 has no values: give geography, an asn or an as_org\n"
    )
    assert not out_dir.exists()  # nothing is written from a bad file
    with pytest.raises(ContentErrors) as exc:
        read_csv(csv)
    assert [p.where for p in exc.value.problems] == [f"{csv}:{n}" for n in (1, 2, 3, 4, 5, 7, 8)]


@pytest.mark.parametrize(("text", "message"), [
    ("", "empty file: a header row is needed"),
    ("network,country_iso_code,country_name,city_name\n", "no rows after the header"),
    ("ip,network,country_iso_code,country_name,city_name\n1.2.3.4,1.2.3.4,NL,,\n", "column(s) given twice: ip/network"),
    ("network,country_iso_code,country_name,city_name,town\n192.0.2.0/24,US,,,\n", "unknown column 'town'"),
    ("network,country_iso_code,country_name,city_name\n192.0.2.0/24,US,,\n192.0.2.0/24,CA,,\n",
     "network 192.0.2.0/24 is already on line 2"),
    ("network,country_iso_code,country_name,city_name,latitude,longitude\n192.0.2.0/24,US,,,40.1,\n",
     "latitude and longitude come together (one is empty)"),
    ("network,country_iso_code,country_name,city_name\n::ffff:192.0.2.0/120,US,,\n",
     "an IPv4-mapped IPv6 network: write it as IPv4"),
], ids=["empty", "header-only", "address-twice", "unknown-column", "duplicate-network", "half-location",
        "ipv4-mapped"])
def test_one_problem_is_one_line(tmp_path: Path, text: str, message: str) -> None:
    csv = _write(tmp_path, text)
    code, out, err = _run("geoip", "build", str(csv), "--out", str(tmp_path / "out"))
    assert code == 1 and out == ""
    assert err.startswith(f"siem-pack: error: {csv}") and message in err and err.count("\n") == 1, err


def test_bad_places_are_usage_errors(geo_csv: Path, tmp_path: Path) -> None:
    code, _, err = _run("geoip", "build", str(tmp_path / "absent.csv"), "--out", str(tmp_path / "out"))
    assert code == 2 and "does not exist" in err
    (tmp_path / "a-file").write_text("")
    code, _, err = _run("geoip", "build", str(geo_csv), "--out", str(tmp_path / "a-file"))
    assert code == 2 and "is a file" in err
    code, _, err = _run("geoip", "build", str(geo_csv))
    assert code == 2 and "Missing option '--out'" in err


def test_ip_and_cidr_columns_and_geolite2_as_names(tmp_path: Path) -> None:
    """The address column may be `ip` (single addresses) or `cidr`, the AS columns
    GeoLite2's CSV names."""
    by_ip = _write(tmp_path, "ip,country_iso_code,country_name,city_name,asn,as_org\n"
                             "203.0.113.7,NL,Netherlands,Utrecht,AS64510,Single Host B.V.\n"
                             "2001:db8::7,JP,Japan,,,\n", "by-ip.csv")
    rows = read_csv(by_ip)
    assert [str(r.network) for r in rows] == ["203.0.113.7/32", "2001:db8::7/128"]
    assert (rows[0].city_name, rows[0].asn, rows[0].as_org) == ("Utrecht", 64510, "Single Host B.V.")
    by_cidr = _write(tmp_path, "cidr,country_iso_code,country_name,city_name,autonomous_system_number,"
                               "autonomous_system_organization\n203.0.113.0/24,,,,64511,Example Net\n", "by-cidr.csv")
    rows = read_csv(by_cidr)
    assert [(str(r.network), r.asn, r.as_org, r.has_geo) for r in rows] == [("203.0.113.0/24", 64511, "Example Net",
                                                                             False)]
    with pytest.raises(ContentError, match=r"header lacks column\(s\) network \(or ip, cidr\)"):
        read_csv(_write(tmp_path, "address,country_iso_code,country_name,city_name\n1.2.3.4,US,,\n", "no-ip.csv"))


# ---- most specific wins ------------------------------------------------------------------------
def _lookups(folder: Path) -> dict[str, Any]:
    city = GeoIp.from_config({"field": "ip", "database_file": CSV_DB_NAMES["city"]}, folder)
    asn = GeoIp.from_config({"field": "ip", "database_file": CSV_DB_NAMES["asn"],
                             "properties": ["asn", "organization_name"]}, folder)
    ips = ["203.0.113.5", "203.0.113.130", "203.0.113.200", "198.51.100.7", "192.0.2.1", "2001:db8:1:2::5",
           "2001:db8:1:3::1", "10.0.0.1"]
    return {ip: (city.lookup(ip).get("city_name"), city.lookup(ip).get("country_iso_code"),
                 asn.lookup(ip).get("asn"), asn.lookup(ip).get("organization_name")) for ip in ips}


def test_the_most_specific_network_wins_per_database(geo_csv: Path, tmp_path: Path) -> None:
    expected = {
        "203.0.113.5": ("Amsterdam", "NL", 64500, "Example Transit B.V."),        # the /24
        "203.0.113.130": ("Berlin", "DE", 64500, "Example Transit B.V."),         # the /25's city, the /24's AS
        "203.0.113.200": ("Paris", "FR", 64501, "Example Hosting, SAS"),          # the single address
        "198.51.100.7": (None, None, 64502, "Example Org Only"),                  # AS only
        "192.0.2.1": (None, "US", None, None),                                    # country only
        "2001:db8:1:2::5": ("Osaka", "JP", 64503, "Example IPv6 KK"),             # the /64 in the /48
        "2001:db8:1:3::1": ("Tokyo", "JP", 64503, "Example IPv6 KK"),
        "10.0.0.1": (None, None, None, None),
    }
    build_databases(geo_csv, tmp_path / "in-order")
    assert _lookups(tmp_path / "in-order") == expected
    # the order of the rows does not matter: narrower networks first, wider ones after
    header, *rows = TEST_CSV.splitlines()
    reversed_csv = _write(tmp_path, "\n".join([header, *reversed(rows)]) + "\n", "reversed.csv")
    build_databases(reversed_csv, tmp_path / "reversed")
    assert _lookups(tmp_path / "reversed") == expected


# ---- offline ingest: the CSV itself and the built folder ----------------------------------------
def _stored_sources(db: Path) -> dict[str, dict[str, Any]]:
    with Store(db) as store:
        return _by_ip(list(store.search_all("events")))


def _assert_expected(by_ip: dict[str, dict[str, Any]]) -> None:
    assert {ip: _geo(by_ip[ip]) for ip in EXPECTED} == EXPECTED
    assert set(by_ip["81.2.69.152"]) <= {"ip", "address", "port"}  # not in the CSV: no geography at all


def test_offline_ingest_with_the_csv(geo_csv: Path, db_path: Path) -> None:
    """`geoip_db` given a .csv builds it on the fly (what `--geoip-db FILE.csv` passes)."""
    summary = ingest([SAMPLES / FOUNDRY.path, SAMPLES / KONG.path], db=db_path, geoip_db=geo_csv)
    assert summary.total.dead_lettered == 0
    _assert_expected(_stored_sources(db_path))


def test_offline_ingest_with_the_built_folder(geo_csv: Path, tmp_path: Path, db_path: Path) -> None:
    out_dir = tmp_path / "geo-db"
    code, _, err = _run("geoip", "build", str(geo_csv), "--out", str(out_dir))
    assert code == 0, err
    code, out, err = _run("ingest", str(SAMPLES / FOUNDRY.path), str(SAMPLES / KONG.path), "--db", str(db_path),
                          "--geoip-db", str(out_dir))
    assert code == 0, err
    by_ip = _stored_sources(db_path)
    _assert_expected(by_ip)
    # the same documents as from the CSV directly
    other = tmp_path / "from-csv.duckdb"
    ingest([SAMPLES / FOUNDRY.path, SAMPLES / KONG.path], db=other, geoip_db=geo_csv)
    assert _stored_sources(other) == by_ip
    # and without a geo database the same records get none: the geography comes from the CSV
    plain = tmp_path / "plain.duckdb"
    ingest([SAMPLES / FOUNDRY.path, SAMPLES / KONG.path], db=plain)
    assert {ip: _geo(s) for ip, s in _stored_sources(plain).items() if ip in EXPECTED} == \
        dict.fromkeys(EXPECTED, (None, None, None, None))


# ---- the real OpenSearch node -----------------------------------------------------------------
@pytest.fixture()
def node_csv_pipelines(opensearch: Any, geo_csv: Path) -> Iterator[tuple[str, PipelineSet]]:
    """Every pipeline PUT on the node under a unique prefix, `siem_pack-geo` compiled for the
    CSV databases the node loaded (TEST_CSV_DB_NAMES); yields (prefix, the offline set on the
    CSV itself)."""
    folder = os.environ.get("SIEM_PACK_TEST_GEOIP_DB")
    missing = [n for n in TEST_CSV_DB_NAMES.values() if not (folder and Path(folder, n).is_file())]
    assert not missing, (f"the OpenSearch node's config/ingest-geoip (SIEM_PACK_TEST_GEOIP_DB={folder}) lacks "
                         f"{', '.join(missing)}: restart the engines with scripts/engines.py")
    opensearch.request("PUT", "/_cluster/settings", {"persistent": {
        "script.context.template.max_compilations_rate": "100000/1m",
        "script.context.ingest.max_compilations_rate": "100000/1m"}})
    offline = load_pipelines(geoip_db=geo_csv)
    prefix = f"t-{uuid.uuid4().hex[:8]}-"
    for pid in offline.ids:
        body = compile_pipeline(TEST_CSV_DB_NAMES) if pid == GEO_PIPELINE else offline.body(pid)
        opensearch.request("PUT", f"/_ingest/pipeline/{prefix}{pid}", prefix_names(body, prefix))
    try:
        yield prefix, offline
    finally:
        for pid in offline.ids:
            opensearch.request("DELETE", f"/_ingest/pipeline/{prefix}{pid}")


def _without_ingest_time(src: dict[str, Any]) -> dict[str, Any]:
    src = copy.deepcopy(src)
    (src.get("event") or {}).pop("ingested", None)
    return src


@pytest.mark.opensearch
def test_opensearch_gives_the_same_geography_from_the_csv(node_csv_pipelines: tuple[str, PipelineSet],
                                                          opensearch: Any) -> None:
    prefix, offline = node_csv_pipelines
    docs = [{"message": text} for sample in (FOUNDRY, KONG) for text in sample.records(None)]
    remote = opensearch.request("POST", f"/_ingest/pipeline/{prefix}{ENTRY}/_simulate",
                                {"docs": [{"_source": copy.deepcopy(d)} for d in docs]})["docs"]
    node_docs = []
    for i, entry in enumerate(remote):
        assert entry and "error" not in entry, f"record {i}: {json.dumps(entry)[:400]}"
        node_docs.append(_without_ingest_time(entry["doc"]["_source"]))
    local = [offline.executor.run(ENTRY, copy.deepcopy(d)) for d in docs]
    assert all(o.ok and o.doc is not None for o in local), [o.error for o in local]
    local_docs = [_without_ingest_time(o.doc) for o in local if o.doc is not None]
    _assert_expected(_by_ip(node_docs))
    assert local_docs == node_docs

