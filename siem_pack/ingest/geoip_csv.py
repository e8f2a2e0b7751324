"""Stage 1 → 2, geography from a CSV: a table of networks the user keeps (`network`,
`country_iso_code`, `country_name`, `city_name`, `region_name`, `latitude`, `longitude`,
`asn`, `as_org`) built into MaxMind-format databases shaped like GeoLite2 City and ASN.

One content path for both engines: Elasticsearch's (and OpenSearch's) `geoip` processor
reads .mmdb files only, so the CSV is never read at ingest time. `build_databases()` writes
`siem_pack-csv-City.mmdb` and `siem_pack-csv-ASN.mmdb` into a folder that the offline
executor takes as `--geoip-db DIR` and a cluster takes in each ingest node's
`config/ingest-geoip/`. `built_folder()` does the same into a temporary folder, for
`--geoip-db FILE.csv` offline.

Rules: a header row names the columns (`network`, `country_iso_code`, `country_name` and
`city_name` are required columns, the others optional; every value may be empty except
`network`). The address column may also be called `ip` or `cidr`, and takes a single address
(a /32 or /128) as well as a CIDR; `asn` and `as_org` may carry GeoLite2's CSV names
(`autonomous_system_number`, `autonomous_system_organization`). Overlapping networks: the
most specific one wins, per database (a /25 row with a city but no AS keeps the AS of the
/24 row around it). A bad row is a `ContentError` naming `file:line` and what is wrong;
every problem of the file is reported at once (a header problem and the rows' problems
together).

Neighbours: siem_pack.ingest.geoip (reads the built files; `db_dir` builds a CSV given as
`--geoip-db`), siem_pack.cli.geoip (`siem-pack geoip build`), tests/support/geo_db.py
(builds the tests' CSV the same way for OpenSearch).
"""

from __future__ import annotations

import atexit
import csv
import ipaddress
import math
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ContentError, SiemPackError, collect

CSV_DB_NAMES = {"city": "siem_pack-csv-City.mmdb", "asn": "siem_pack-csv-ASN.mmdb"}
# the metadata types GeoLite2 files carry; the Java reader (OpenSearch, Elasticsearch)
# accepts an ASN database only when its type contains "GeoLite2-ASN"
DATABASE_TYPES = {"city": "GeoLite2-City", "asn": "GeoLite2-ASN"}
REQUIRED_COLUMNS = ("network", "country_iso_code", "country_name", "city_name")
OPTIONAL_COLUMNS = ("region_name", "latitude", "longitude", "asn", "as_org")
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
# other names a header may give a column: {alias: column}
ALIASES = {"ip": "network", "cidr": "network",
           "autonomous_system_number": "asn", "autonomous_system_organization": "as_org"}

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class GeoRow:
    """One valid CSV row. `line` is where it starts in the file."""

    line: int
    network: Network
    country_iso_code: str | None = None
    country_name: str | None = None
    city_name: str | None = None
    region_name: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    asn: int | None = None
    as_org: str | None = None

    @property
    def has_geo(self) -> bool:
        return any(v is not None for v in (self.country_iso_code, self.country_name, self.city_name,
                                           self.region_name, self.latitude))

    @property
    def has_as(self) -> bool:
        return self.asn is not None or self.as_org is not None

    @property
    def depth(self) -> int:
        """The prefix length in the IPv6 tree (IPv4 networks sit under ::/96)."""
        return self.network.prefixlen + (96 if self.network.version == 4 else 0)


@dataclass(frozen=True)
class BuildResult:
    """What `build_databases` wrote: {"city": path, "asn": path} (a database without any
    network is not written), the number of rows, and networks per database."""

    source: Path
    paths: Mapping[str, Path]
    rows: int
    networks: Mapping[str, int]

    @property
    def db_names(self) -> dict[str, str]:
        """{"city": file name, "asn": file name} of the databases written (what
        siem_pack.ingest.geoip.compile_pipeline takes)."""
        return {k: p.name for k, p in sorted(self.paths.items())}

    def to_dict(self) -> dict[str, Any]:
        return {"source": str(self.source), "rows": self.rows,
                "databases": {k: {"path": str(p), "networks": self.networks[k]} for k, p in sorted(self.paths.items())}}


def read_csv(path: Path) -> list[GeoRow]:
    """The valid rows of the CSV at `path`; raises every problem at once (`file:line: ...`)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ContentError(f"not UTF-8 text: {exc.reason} at byte {exc.start}", where=str(path)) from exc
    except OSError as exc:
        raise ContentError(f"cannot read: {exc.strerror or exc}", where=str(path)) from exc
    reader = csv.reader(text.splitlines(keepends=True), strict=True)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise ContentError("empty file: a header row is needed (" + ",".join(COLUMNS) + ")",
                           where=f"{path}:1") from None
    except csv.Error as exc:
        raise ContentError(f"invalid CSV: {exc}", where=f"{path}:1") from None
    columns = [ALIASES.get(h, h) for h in header]  # what each field is; unknown names stay as given
    problems = _header_problems(path, header, columns)
    rows = _read_rows(reader, path, header, columns, problems)
    if not rows and not problems:
        problems.append(ContentError("no rows after the header", where=str(path)))
    collect(problems)
    return rows


def _header_problems(path: Path, header: list[str], columns: list[str]) -> list[SiemPackError]:
    """Missing, unknown and repeated columns; raises at once on a repeated one (which field
    is which is unknown: the rows cannot be read)."""
    problems: list[SiemPackError] = []
    missing = [_with_aliases(c) for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        problems.append(ContentError(f"header lacks column(s) {', '.join(missing)}; columns: {', '.join(COLUMNS)}",
                                     where=f"{path}:1"))
    for name in header:
        if name not in COLUMNS and name not in ALIASES:
            problems.append(ContentError(f"unknown column '{name}'; known: {', '.join(COLUMNS)}", where=f"{path}:1"))
    dupes = sorted({c for c in columns if columns.count(c) > 1})
    if dupes:
        named = ["/".join(h for h, c in zip(header, columns, strict=True) if c == d) for d in dupes]
        problems.append(ContentError(f"column(s) given twice: {', '.join(named)}", where=f"{path}:1"))
        collect(problems)
    return problems


def _read_rows(reader: Any, path: Path, header: list[str], columns: list[str],
               problems: list[SiemPackError]) -> list[GeoRow]:
    """The rows after the header (`reader`: a csv.reader past it) that are valid and name a network no earlier row named;
    the others' problems are added to `problems`."""
    rows: list[GeoRow] = []
    seen: dict[Network, int] = {}
    while True:
        start = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(ContentError(f"invalid CSV: {exc}", where=f"{path}:{start}"))
            break
        if not fields or all(not f.strip() for f in fields):
            continue  # blank line
        where = f"{path}:{start}"
        if len(fields) != len(header):
            problems.append(ContentError(f"{len(fields)} field(s), the header has {len(header)}", where=where))
            continue
        row, errors = _row(start, {c: f.strip() for c, f in zip(columns, fields, strict=True) if c in COLUMNS})
        problems += [ContentError(e, where=where) for e in errors]
        if row is None:
            continue
        if row.network in seen:
            problems.append(ContentError(f"network {row.network} is already on line {seen[row.network]}", where=where))
            continue
        seen[row.network] = start
        rows.append(row)
    return rows


def _with_aliases(column: str) -> str:
    others = [a for a, c in ALIASES.items() if c == column]
    return f"{column} (or {', '.join(others)})" if others else column


def _row(line: int, values: Mapping[str, str]) -> tuple[GeoRow | None, list[str]]:
    """A row from its values by column (a column the header lacks is absent: that is
    reported once, on the header, and the row's other values are still checked)."""
    errors: list[str] = []

    def text(name: str) -> str | None:
        return values.get(name) or None

    network = _network(values.get("network"), errors)
    iso = _country_code(text("country_iso_code"), errors)
    lat, lon = _coordinate(text("latitude"), "latitude", 90, errors), _coordinate(text("longitude"), "longitude",
                                                                                    180, errors)
    if (text("latitude") is None) != (text("longitude") is None):
        errors.append("latitude and longitude come together (one is empty)")
    asn = _asn(text("asn"), errors)
    if errors or network is None:
        return None, errors
    row = GeoRow(line=line, network=network, country_iso_code=iso, country_name=text("country_name"),
                 city_name=text("city_name"), region_name=text("region_name"),
                 latitude=lat, longitude=lon,
                 asn=asn, as_org=text("as_org"))
    if not row.has_geo and not row.has_as:
        return None, [f"network {network} has no values: give geography, an asn or an as_org"]
    return row, []


def _network(raw: str | None, errors: list[str]) -> Network | None:
    if raw is None:
        return None  # no address column: reported on the header
    if not raw:
        errors.append("network is empty (an IP address or a CIDR such as 203.0.113.0/24)")
        return None
    network: Network | None = None
    try:
        network = ipaddress.ip_network(raw, strict=True)
    except ValueError:
        try:
            loose = ipaddress.ip_network(raw, strict=False)
        except ValueError:
            errors.append(f"network '{raw}' is not an IP address or CIDR")
        else:
            errors.append(f"network '{raw}' has host bits set (the network is {loose})")
    if isinstance(network, ipaddress.IPv6Network) and network.network_address.ipv4_mapped is not None \
            and network.prefixlen >= 96:
        errors.append(f"network '{raw}' is an IPv4-mapped IPv6 network: write it as IPv4")
    return network


def _country_code(iso: str | None, errors: list[str]) -> str | None:
    if iso is None:
        return None
    if len(iso) != 2 or not iso.isascii() or not iso.isalpha():
        errors.append(f"country_iso_code '{iso}' is not a two-letter ISO 3166 code")
    return iso.upper()


def _asn(raw: str | None, errors: list[str]) -> int | None:
    if raw is None:
        return None
    digits = raw[2:] if raw[:2].upper() == "AS" else raw
    if digits.isascii() and digits.isdigit() and int(digits) <= 0xFFFFFFFF:
        return int(digits)
    errors.append(f"asn '{raw}' is not an AS number (0 to 4294967295, optionally AS-prefixed)")
    return None


def _coordinate(raw: str | None, name: str, limit: int, errors: list[str]) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        errors.append(f"{name} '{raw}' is not a number")
        return None
    if not math.isfinite(value) or abs(value) > limit:
        errors.append(f"{name} {raw} is out of range (-{limit} to {limit})")
        return None
    return value


def city_record(row: GeoRow) -> dict[str, Any]:
    """The GeoLite2-City shaped record of a row (only the keys it has values for)."""
    rec: dict[str, Any] = {}
    if row.city_name is not None:
        rec["city"] = {"names": {"en": row.city_name}}
    country: dict[str, Any] = {}
    if row.country_iso_code is not None:
        country["iso_code"] = row.country_iso_code
    if row.country_name is not None:
        country["names"] = {"en": row.country_name}
    if country:
        rec["country"] = country
    if row.region_name is not None:
        rec["subdivisions"] = [{"names": {"en": row.region_name}}]
    if row.latitude is not None and row.longitude is not None:
        rec["location"] = {"latitude": row.latitude, "longitude": row.longitude}
    return rec


def asn_record(row: GeoRow) -> dict[str, Any]:
    """The GeoLite2-ASN shaped record of a row."""
    rec: dict[str, Any] = {}
    if row.asn is not None:
        rec["autonomous_system_number"] = row.asn
    if row.as_org is not None:
        rec["autonomous_system_organization"] = row.as_org
    return rec


def build_databases(csv_path: Path, out_dir: Path, names: Mapping[str, str] | None = None) -> BuildResult:
    """Read the CSV and write the City and ASN databases into `out_dir` (created if needed);
    `names` overrides the file names (keys `city`, `asn`). A database no row has values for
    is not written (and a stale one of that name is removed)."""
    names = {**CSV_DB_NAMES, **(names or {})}
    rows = read_csv(csv_path)
    _need_writer()  # before anything is created
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"{out_dir} is a file, not a folder", where="--out")
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    counts: dict[str, int] = {}
    for key, wanted, record in (("city", "has_geo", city_record), ("asn", "has_as", asn_record)):
        selected = [r for r in rows if getattr(r, wanted)]
        target = out_dir / names[key]
        counts[key] = len(selected)
        if not selected:
            target.unlink(missing_ok=True)
            continue
        _write(target, DATABASE_TYPES[key], [(r.network, record(r)) for r in sorted(selected, key=_order)],
               f"siem-pack: {csv_path.name} built into a {DATABASE_TYPES[key]} shaped database")
        paths[key] = target
    return BuildResult(source=csv_path, paths=paths, rows=len(rows), networks=counts)


def _order(row: GeoRow) -> tuple[int, int, int]:
    # wider networks first: a later, narrower insert splits the wider leaf, so the most
    # specific network wins (mmdb-writer overwrites a prefix with what comes last)
    return row.depth, row.network.version, int(row.network.network_address)


def _need_writer() -> None:
    try:
        import mmdb_writer  # noqa: F401
        import netaddr  # noqa: F401
    except ImportError as exc:
        raise ConfigError("building .mmdb files needs the mmdb-writer package (pip install mmdb-writer)",
                          where="geoip build") from exc


def _write(path: Path, database_type: str, networks: list[tuple[Network, dict[str, Any]]], description: str) -> None:
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type=database_type, languages=["en"],
                        description=description)
    for network, record in networks:
        writer.insert_network(IPSet([str(network)]), maxmind_typed(record))
    tmp = path.with_name(path.name + ".tmp")
    writer.to_db_file(str(tmp))
    tmp.replace(path)  # a node reading the folder never sees half a file


def maxmind_typed(value: Any) -> Any:
    """MaxMind's own value types (uint16 accuracy radius, uint32 ids and AS numbers, double
    coordinates), which the Java reader of OpenSearch and Elasticsearch checks strictly."""
    from mmdb_writer import MmdbF64, MmdbU16, MmdbU32

    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if k == "accuracy_radius":
                out[k] = MmdbU16(v)
            elif k in ("geoname_id", "autonomous_system_number"):
                out[k] = MmdbU32(v)
            elif k in ("latitude", "longitude"):
                out[k] = MmdbF64(float(v))
            else:
                out[k] = maxmind_typed(v)
        return out
    if isinstance(value, list):
        return [maxmind_typed(v) for v in value]
    return value


def built_folder(csv_path: Path) -> Path:
    """A temporary folder holding the databases built from `csv_path` (for `--geoip-db
    FILE.csv` offline); built once per process and file version, removed at exit."""
    stat = csv_path.stat()
    return _built(str(csv_path.resolve()), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=8)
def _built(path: str, _mtime_ns: int, _size: int) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="siem-pack-geoip-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    build_databases(Path(path), folder)
    return folder
