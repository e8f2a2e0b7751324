"""A tiny MaxMind-format geo database (City and ASN) for tests, built with `mmdb-writer`.

Networks and values are MaxMind's public test values (the same Elastic's expected outputs
use): 89.160.20.156 → Linköping, SE, AS29518 Bredband2 AB; 81.2.69.144 → London, GB;
216.160.83.56 → Milton, US-WA, AS209; 175.16.199.0/24 → Changchun, CN (no AS).

Plus `TEST_CSV`, a user's CSV of networks, built by the same code as `siem-pack geoip
build` (siem_pack.ingest.geoip_csv) into TEST_CSV_DB_NAMES beside them.

Used by tests/ingest/test_geoip.py and test_geoip_csv.py (offline geoip) and
scripts/engines.py, which builds
the same files into OpenSearch's `config/ingest-geoip/` before starting it. Those files
must not carry the default names (`GeoLite2-City.mmdb`...): OpenSearch refuses to start
when its config folder shadows a bundled database. Hence `TEST_DB_NAMES`.
Neighbour: siem_pack.ingest.geoip (reads these files; compiles `siem_pack-geo` for them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from siem_pack.ingest.geoip_csv import build_databases, maxmind_typed

TEST_DB_NAMES = {"city": "siem_pack-test-City.mmdb", "asn": "siem_pack-test-ASN.mmdb"}
# the databases `siem-pack geoip build` makes of TEST_CSV, under names that sort after
# TEST_DB_NAMES (so `db_names_in` of the shared folder still picks the MaxMind-value files)
TEST_CSV_DB_NAMES = {"city": "siem_pack-test-csv-City.mmdb", "asn": "siem_pack-test-csv-ASN.mmdb"}

# A user's CSV of networks (siem_pack.ingest.geoip_csv), on documentation ranges: nested
# IPv4 networks (most specific wins, per database), an AS-only row, a country-only row and
# IPv6 networks. 203.0.113.5 → Amsterdam, NL, AS64500; 203.0.113.130 → Berlin (the AS of
# the /24); 203.0.113.200 → Paris, AS64501; 2001:db8:1:2::5 → Osaka (AS64503 of the /48).
TEST_CSV = """\
network,country_iso_code,country_name,city_name,region_name,latitude,longitude,asn,as_org
203.0.113.0/24,NL,Netherlands,Amsterdam,North Holland,52.3676,4.9041,64500,Example Transit B.V.
203.0.113.128/25,DE,Germany,Berlin,Berlin,52.52,13.405,,
203.0.113.200,FR,France,Paris,Île-de-France,48.8566,2.3522,AS64501,"Example Hosting, SAS"
198.51.100.0/24,,,,,,,64502,Example Org Only
192.0.2.0/24,US,United States,,,,,,
2001:db8:1::/48,JP,Japan,Tokyo,Tokyo,35.6762,139.6503,64503,Example IPv6 KK
2001:db8:1:2::/64,JP,Japan,Osaka,Osaka,34.6937,135.5023,,
"""

_EUROPE = {"code": "EU", "geoname_id": 6255148, "names": {"en": "Europe"}}
_NORTH_AMERICA = {"code": "NA", "geoname_id": 6255149, "names": {"en": "North America"}}
_ASIA = {"code": "AS", "geoname_id": 6255147, "names": {"en": "Asia"}}


def _city(city: tuple[int, str], sub: tuple[int, str, str], country: tuple[int, str, str], continent: dict[str, Any],
          lat: float, lon: float, tz: str, radius: int) -> dict[str, Any]:
    return {
        "city": {"geoname_id": city[0], "names": {"en": city[1]}},
        "continent": continent,
        "country": {"geoname_id": country[0], "iso_code": country[1], "names": {"en": country[2]}},
        "location": {"accuracy_radius": radius, "latitude": lat, "longitude": lon, "time_zone": tz},
        "subdivisions": [{"geoname_id": sub[0], "iso_code": sub[1], "names": {"en": sub[2]}}],
    }


CITY_NETWORKS: dict[str, dict[str, Any]] = {
    "89.160.20.128/25": _city((2694762, "Linköping"), (2685867, "E", "Östergötland County"),
                              (2661886, "SE", "Sweden"), _EUROPE, 58.4167, 15.6167, "Europe/Stockholm", 76),
    "81.2.69.144/28": _city((2643743, "London"), (6269131, "ENG", "England"),
                            (2635167, "GB", "United Kingdom"), _EUROPE, 51.5142, -0.0931, "Europe/London", 10),
    "216.160.83.56/29": _city((5803556, "Milton"), (5815135, "WA", "Washington"),
                              (6252001, "US", "United States"), _NORTH_AMERICA, 47.2513, -122.3149,
                              "America/Los_Angeles", 22),
    "175.16.199.0/24": _city((2038180, "Changchun"), (2036500, "22", "Jilin Sheng"),
                             (1814991, "CN", "China"), _ASIA, 43.88, 125.3228, "Asia/Harbin", 100),
}

ASN_NETWORKS: dict[str, dict[str, Any]] = {
    "89.160.20.128/25": {"autonomous_system_number": 29518, "autonomous_system_organization": "Bredband2 AB"},
    "216.160.83.56/29": {"autonomous_system_number": 209,
                         "autonomous_system_organization": "Qwest Communications Company, LLC"},
}


def write_db(path: Path, database_type: str, networks: dict[str, dict[str, Any]]) -> Path:
    """Write one MaxMind-format database (IPv6 tree with IPv4 mapped, like MaxMind's)."""
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type=database_type,
                        languages=["en"], description="siem-pack test database (MaxMind test values)")
    for cidr, record in networks.items():
        writer.insert_network(IPSet([cidr]), maxmind_typed(record))
    path.parent.mkdir(parents=True, exist_ok=True)
    writer.to_db_file(str(path))
    return path


def build_test_dbs(folder: Path, names: dict[str, str] | None = None) -> dict[str, Path]:
    """Write the test City and ASN databases into `folder`, and the databases built from
    TEST_CSV (as `siem-pack geoip build` builds them, named TEST_CSV_DB_NAMES); returns
    {"city": path, "asn": path, "csv-city": path, "csv-asn": path}."""
    names = names or TEST_DB_NAMES
    out = {
        "city": write_db(folder / names["city"], "GeoLite2-City", CITY_NETWORKS),
        "asn": write_db(folder / names["asn"], "GeoLite2-ASN", ASN_NETWORKS),
    }
    return out | {f"csv-{k}": p for k, p in build_test_csv_dbs(folder).items()}


def build_test_csv_dbs(folder: Path) -> dict[str, Path]:
    """The databases of TEST_CSV in `folder` (named TEST_CSV_DB_NAMES); {"city": path, "asn": path}."""
    folder.mkdir(parents=True, exist_ok=True)
    csv_path = folder / "siem_pack-test.csv.tmp"
    csv_path.write_text(TEST_CSV, encoding="utf-8")
    try:
        return dict(build_databases(csv_path, folder, TEST_CSV_DB_NAMES).paths)
    finally:
        csv_path.unlink()
