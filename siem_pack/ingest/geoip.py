"""Stage 1 → 2, geography: the `geoip` processor of the offline executor and the generated
pipeline `siem_pack-geo` the entry pipeline calls.

Offline, `GeoIp` reads a MaxMind-format database (GeoLite2 / GeoIP2 City, Country or ASN)
with the `maxminddb` package and behaves as Elasticsearch's (and OpenSearch's) `geoip`
processor: `field`, `target_field` (default `geoip`), `database_file` (default
`GeoLite2-City.mmdb`), `properties`, `ignore_missing`, `first_only`; the same output keys
(City: continent_name, country_name, country_iso_code, region_iso_code, region_name,
city_name, location {lat, lon} by default, plus ip and timezone on request; ASN: ip, asn,
organization_name, network), nothing written when the address is not in the database.

The databases live in one folder: `--geoip-db DIR` or `SIEM_PACK_GEOIP_DB` offline (or a
CSV of networks, built into such a folder by siem_pack.ingest.geoip_csv); in production,
the cluster's own geoip databases. `compile_pipeline(db_names)` writes the
`siem_pack-geo` pipeline for the database names at hand: the City lookup into `source.geo`
and the ASN lookup into `source.as`, renamed to ECS (`number`, `organization.name`) the way
Elastic's integration pipelines do. Without databases it is a pipeline that does nothing.

Neighbours: the executor (siem_pack.ingest.processors registers `GeoIp`), the entry pipeline
(ingest_pipelines/siem_pack-entry.yml calls `siem_pack-geo`), the CSV builder
(siem_pack.ingest.geoip_csv), the test databases (tests/support/geo_db.py).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import maxminddb

from ..errors import ConfigError, ContentError
from .processors import Build, Conf, IngestDoc, ProcessorFailure, Run, get_field, register, set_field

GEO_PIPELINE = "siem_pack-geo"
ENV = "SIEM_PACK_GEOIP_DB"
DEFAULT_DB_NAMES = {"city": "GeoLite2-City.mmdb", "asn": "GeoLite2-ASN.mmdb"}
DEFAULT_DATABASE_FILE = DEFAULT_DB_NAMES["city"]

DbType = Literal["City", "Country", "ASN"]
# property names per database type, and the default set (Elasticsearch's and OpenSearch's)
PROPERTIES: dict[DbType, tuple[str, ...]] = {
    "City": ("ip", "country_iso_code", "country_name", "continent_name", "region_iso_code", "region_name",
             "city_name", "timezone", "location"),
    "Country": ("ip", "continent_name", "country_name", "country_iso_code"),
    "ASN": ("ip", "asn", "organization_name", "network"),
}
DEFAULT_PROPERTIES: dict[DbType, frozenset[str]] = {
    "City": frozenset({"continent_name", "country_name", "country_iso_code", "region_iso_code", "region_name",
                       "city_name", "location"}),
    "Country": frozenset({"continent_name", "country_name", "country_iso_code"}),
    "ASN": frozenset({"ip", "asn", "organization_name", "network"}),
}


def db_dir(explicit: Path | str | None = None) -> Path | None:
    """The folder of geo databases: `--geoip-db DIR`, else `SIEM_PACK_GEOIP_DB`, else none.
    A `.csv` file instead of a folder is built into a temporary folder of databases
    (siem_pack.ingest.geoip_csv), so offline runs take the CSV directly."""
    value = explicit if explicit is not None else os.environ.get(ENV)
    if not value:
        return None
    folder = Path(value)
    where = "--geoip-db" if explicit is not None else ENV
    if folder.is_file() and folder.suffix.lower() == ".csv":
        from .geoip_csv import built_folder

        return built_folder(folder)
    if folder.is_file():
        raise ConfigError(f"{folder} is a file: give the folder of .mmdb databases or a .csv file", where=where)
    if not folder.is_dir():
        raise ConfigError(f"geo database folder {folder} does not exist", where=where)
    return folder


def db_names_in(folder: Path | None) -> dict[str, str]:
    """{"city": file, "asn": file} for the databases in `folder`, recognised by their
    metadata `database_type` (…-City, …-ASN), so both GeoLite2 and test names work."""
    if folder is None:
        return {}
    found: dict[str, str] = {}
    for path in sorted(folder.glob("*.mmdb")):
        dtype = _reader(str(path)).metadata().database_type
        for key, suffix in (("city", "-City"), ("asn", "-ASN")):
            if dtype.endswith(suffix) and (key not in found or path.name == DEFAULT_DB_NAMES[key]):
                found[key] = path.name
    return found


def geo_pipeline(folder: Path | str | None = None) -> dict[str, Any]:
    """`siem_pack-geo` for the offline executor: the databases of `--geoip-db DIR` (or
    `SIEM_PACK_GEOIP_DB`); a pipeline that does nothing when neither is set."""
    return compile_pipeline(db_names_in(db_dir(folder)))


def compile_pipeline(db_names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The `siem_pack-geo` pipeline body for the given database file names
    (keys `city`, `asn`; a missing key leaves that lookup out). Geography the log carries
    itself (OpenAI's audit log has the provider's own `ip_address_details`) is kept: each
    lookup runs only where its target is not set yet."""
    names = dict(db_names or {})
    procs: list[dict[str, Any]] = []
    if "city" in names:
        procs.append({"geoip": {"tag": "geo-city", "field": "source.ip", "target_field": "source.geo",
                                "database_file": names["city"], "ignore_missing": True,
                                "if": "ctx.source?.geo == null"}})
    if "asn" in names:
        procs += [
            {"geoip": {"tag": "geo-asn", "field": "source.ip", "target_field": "source.as",
                       "database_file": names["asn"], "properties": ["asn", "organization_name"],
                       "ignore_missing": True, "if": "ctx.source?.as == null"}},
            {"rename": {"tag": "geo-asn-number", "field": "source.as.asn", "target_field": "source.as.number",
                        "ignore_missing": True}},
            {"rename": {"tag": "geo-asn-organization", "field": "source.as.organization_name",
                        "target_field": "source.as.organization.name", "ignore_missing": True}},
        ]
    what = ", ".join(f"{k}: {v}" for k, v in sorted(names.items())) or "no databases: does nothing"
    return {"description": f"siem-pack geography of source.ip ({what}). Generated by siem_pack.ingest.geoip.",
            "processors": procs}


@lru_cache(maxsize=16)
def _reader(path: str) -> maxminddb.Reader:
    try:
        return maxminddb.open_database(path)
    except (OSError, maxminddb.InvalidDatabaseError, ValueError) as exc:
        raise ConfigError(f"cannot read the geo database: {exc}", where=path) from exc


def database_type(path: Path) -> DbType:
    dtype = _reader(str(path)).metadata().database_type
    for suffix in ("City", "Country", "ASN"):
        if dtype.endswith("-" + suffix):
            return suffix
    raise ContentError(f"unsupported database type [{dtype}] for file [{path.name}]", where=str(path))


@dataclass(frozen=True)
class GeoIp:
    """The `geoip` processor's configuration, resolved against a database folder."""

    field: str
    database: Path
    target_field: str = "geoip"
    properties: frozenset[str] = frozenset()
    ignore_missing: bool = False
    first_only: bool = True

    @classmethod
    def from_config(cls, conf: Mapping[str, Any], folder: Path | None, where: str = "geoip") -> GeoIp:
        """Build from a processor body (`{"field": ..., ...}`); `folder` holds the databases."""
        if "field" not in conf:
            raise ContentError("[field] required property is missing", where=where)
        name = str(conf.get("database_file", DEFAULT_DATABASE_FILE))
        if folder is None:
            raise ConfigError(f"geoip needs a database folder for [{name}]: pass --geoip-db DIR or set {ENV}",
                              where=where)
        path = folder / name
        if not path.is_file():
            raise ConfigError(f"database file [{name}] doesn't exist in {folder}", where=where)
        dtype = database_type(path)
        wanted = conf.get("properties")
        if wanted is None:
            props = DEFAULT_PROPERTIES[dtype]
        else:
            bad = [p for p in wanted if p not in PROPERTIES[dtype]]
            if bad:
                raise ContentError(f"illegal property value [{bad[0]}]. valid values are "
                                   f"[{', '.join(p.upper() for p in PROPERTIES[dtype])}]", where=where)
            props = frozenset(wanted)
        return cls(field=str(conf["field"]), database=path, target_field=str(conf.get("target_field", "geoip")),
                   properties=props, ignore_missing=bool(conf.get("ignore_missing", False)),
                   first_only=bool(conf.get("first_only", True)))

    def result(self, value: Any) -> tuple[bool, Any]:
        """What to write for the field's value: (write?, value for target_field).
        `value` None means the field is missing or null."""
        if value is None:
            if self.ignore_missing:
                return False, None
            raise ProcessorFailure(f"field [{self.field}] is null, cannot extract geoip information.")
        if isinstance(value, str):
            data = self.lookup(value)
            return (True, data) if data else (False, None)
        if isinstance(value, list):
            found: list[dict[str, Any] | None] = []
            match = False
            for item in value:
                if not isinstance(item, str):
                    raise ProcessorFailure(f"array in field [{self.field}] should only contain strings")
                data = self.lookup(item)
                if not data:
                    found.append(None)
                    continue
                if self.first_only:
                    return True, data
                match = True
                found.append(data)
            return (True, found) if match else (False, None)
        raise ProcessorFailure(f"field [{self.field}] should contain only string or array of strings")

    def lookup(self, ip: str) -> dict[str, Any]:
        """The geo data of one address; empty when the address is not in the database."""
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            raise ProcessorFailure(f"'{ip}' is not an IP string literal.") from None
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped  # Java's InetAddresses.forString does the same
        record, prefix = _reader(str(self.database)).get_with_prefix_len(addr)
        if not isinstance(record, dict):
            return {}
        dtype = database_type(self.database)
        if dtype == "City":
            values = _city(record, addr)
        elif dtype == "Country":
            values = _country(record, addr)
        else:
            values = _asn(record, addr, prefix)
        return {k: v for k, v in values.items() if k in self.properties and v is not None}


def _name(node: Any) -> Any:
    return (node or {}).get("names", {}).get("en") if isinstance(node, dict) else None


def _country(record: dict[str, Any], addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> dict[str, Any]:
    country = record.get("country") or {}
    return {"ip": addr.compressed, "country_iso_code": country.get("iso_code"), "country_name": _name(country),
            "continent_name": _name(record.get("continent"))}


def _city(record: dict[str, Any], addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> dict[str, Any]:
    out = _country(record, addr)
    subs = record.get("subdivisions") or [{}]
    sub = subs[-1]  # the most specific subdivision
    iso, sub_iso = out["country_iso_code"], sub.get("iso_code")
    loc = record.get("location") or {}
    lat, lon = loc.get("latitude"), loc.get("longitude")
    out |= {"region_iso_code": f"{iso}-{sub_iso}" if iso is not None and sub_iso is not None else None,
            "region_name": _name(sub), "city_name": _name(record.get("city")), "timezone": loc.get("time_zone"),
            "location": {"lat": lat, "lon": lon} if lat is not None and lon is not None else None}
    return out


def _asn(record: dict[str, Any], addr: ipaddress.IPv4Address | ipaddress.IPv6Address, prefix: int) -> dict[str, Any]:
    network = ipaddress.ip_network(f"{addr}/{prefix}", strict=False)
    return {"ip": addr.compressed, "asn": record.get("autonomous_system_number"),
            "organization_name": record.get("autonomous_system_organization"),
            "network": f"{network.network_address.compressed}/{network.prefixlen}"}



def _factory(c: Conf, b: Build) -> Run:
    """The executor's `geoip` processor. The database folder is the Build's `geoip_db`
    (from `--geoip-db`: a folder, or a CSV built into one), else `SIEM_PACK_GEOIP_DB`."""
    conf: dict[str, Any] = {"field": c.str("field", required=True),
                            "target_field": c.str("target_field", "geoip"),
                            "database_file": c.str("database_file", DEFAULT_DATABASE_FILE),
                            "ignore_missing": c.bool("ignore_missing"), "first_only": c.bool("first_only", True)}
    props = c.any("properties")
    if props is not None:
        conf["properties"] = props
    c.done()
    geo = GeoIp.from_config(conf, db_dir(b.geoip_db), where=c.where)

    def run(doc: IngestDoc) -> None:
        try:
            value = get_field(doc, geo.field)
        except ProcessorFailure:
            if geo.ignore_missing:
                return
            raise
        write, data = geo.result(value)
        if write:
            set_field(doc, geo.target_field, data)
    return run


register("geoip", _factory)
