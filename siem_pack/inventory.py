"""Stage 2 enrichment: the inventory (`inventory/`) as content, and its compiled pipeline.

The inventory says which models exist (sensitivity tier, owner, environment, the groups and
roles allowed to use them), who the identities are (groups, roles, time zone, and their
aliases across sources: Entra object id, e-mail, IAM ARN, GCP principal, gateway user, key
alias/id/hash), and the dated grants and approvals that widen access for a while.

`load_inventory()` reads it once into frozen dataclasses, collecting every problem.
`compile_pipeline(inventory)` turns it into the `siem_pack-inventory` ingest pipeline: only
conditional `set`/`append` processors, so Elasticsearch, OpenSearch and our offline executor
(siem_pack.ingest.executor) all run it and the differential tests prove the verdicts.
`Inventory.verdict()` is the same rule in Python, for tests and for readers.

Neighbours: the entry pipeline (ingest_pipelines/siem_pack-entry.yml) calls the compiled
pipeline after the format pipeline; detections read `siem_pack.policy.*` and
`siem_pack.model.tier`; containment reads `response_levels.yml`.
Regenerate the kept copy with `python -m siem_pack.inventory` (a test fails when stale).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, cast, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from .errors import ContentError, SiemPackError, collect
from .paths import content_dir
from .times import format_ts

PIPELINE_ID = "siem_pack-inventory"

Tier = Literal["public", "internal", "confidential", "restricted"]
IdentityType = Literal["human", "service"]
GrantKind = Literal["grant", "approval"]
AliasKind = Literal[
    "email", "iam_arn", "entra_object_id", "gcp_principal", "openai_user_id", "anthropic_user_id",
    "gateway_user", "key_alias", "key_id", "key_hash", "iam_role",
]
Verdict = Literal["compliant", "noncompliant", "unknown"]

TIERS: tuple[str, ...] = get_args(Tier)
ALIAS_KINDS: tuple[str, ...] = get_args(AliasKind)
# which event field an alias kind is compared with (user fields hold the caller's raw ids)
USER_FIELDS = ("user.id", "user.email", "user.name")
KEY_FIELDS: dict[str, str] = {
    "key_alias": "siem_pack.api_key.alias", "key_id": "siem_pack.api_key.id", "key_hash": "siem_pack.api_key.hash",
}
# an IAM role ARN: every session of the role (arn:aws:sts::<account>:assumed-role/<role>/<session>,
# whatever the session name) is this identity; the Bedrock pipeline derives the role's ARN
# into ROLE_FIELD. Tried last: an SSO session whose name is a known e-mail resolves to the person.
ROLE_FIELD = "siem_pack.raw._aws_role_arn"
LAST_FIELDS: dict[str, str] = {**KEY_FIELDS, "iam_role": ROLE_FIELD}
ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
# temporary markers, removed with siem_pack.raw by the entry pipeline
MARK_IDENTITY = "siem_pack.raw._inventory_identity"
MARK_MODEL = "siem_pack.raw._inventory_model"
MARK_PRIVILEGED = "siem_pack.raw._inventory_privileged"
LOCAL_TIME = "siem_pack.raw._local_time"
LOCAL_HMS = "siem_pack.raw._local_hms"


@dataclass(frozen=True)
class Model:
    id: str
    description: str
    names: tuple[str, ...]
    tier: Tier
    owner: str
    environment: str
    allowed_groups: tuple[str, ...]
    allowed_roles: tuple[str, ...]


@dataclass(frozen=True)
class Identity:
    id: str
    name: str
    type: IdentityType
    email: str
    groups: tuple[str, ...]
    roles: tuple[str, ...]
    time_zone: str
    aliases: tuple[tuple[AliasKind, str], ...]
    working_hours: tuple[str, str] = ("08:00:00", "19:00:00")  # local [start, end)
    countries: tuple[str, ...] = ()  # ISO 3166 alpha-2 codes the identity works from (offices, home)

    def user_aliases(self) -> tuple[str, ...]:
        """The raw ids a log may carry for this identity (its canonical id among them)."""
        return (self.id, *(v for k, v in self.aliases if k not in LAST_FIELDS and v != self.id))

    def key_aliases(self, kind: str) -> tuple[str, ...]:
        return tuple(v for k, v in self.aliases if k == kind)


@dataclass(frozen=True)
class Grant:
    """A dated widening of access: `grant` (standing, planned) or `approval` (temporary
    elevation approved for a justification). Active for start <= @timestamp < expiry."""

    id: str
    kind: GrantKind
    identities: tuple[str, ...]
    groups: tuple[str, ...]
    models: tuple[str, ...]
    actions: tuple[str, ...]
    start: str  # normalised ISO-8601 UTC, yyyy-mm-ddThh:mm:ss.sssZ (compares as text)
    expiry: str
    justification: str
    approved_by: str


@dataclass(frozen=True)
class ResponseLevel:
    name: str
    description: str
    actions: tuple[str, ...]


@dataclass(frozen=True)
class Inventory:
    models: tuple[Model, ...]
    identities: tuple[Identity, ...]
    grants: tuple[Grant, ...]
    response_levels: tuple[ResponseLevel, ...] = ()
    level_by_tier: tuple[tuple[str, str], ...] = ()  # tier -> the highest level it may reach
    privileged_actions: tuple[str, ...] = ()
    source: str = field(default="", compare=False)
    level_by_severity: tuple[tuple[str, str], ...] = ()
    level_by_risk_score: tuple[tuple[str, int], ...] = ()  # level -> least risk score reaching it
    level_floor_by_tier: tuple[tuple[str, str], ...] = ()  # tier -> the lowest level it gets

    @cached_property
    def _model_by_name(self) -> dict[str, Model]:
        return {n: m for m in self.models for n in m.names}

    @cached_property
    def _identity_by_id(self) -> dict[str, Identity]:
        return {i.id: i for i in self.identities}

    def model_for(self, name: str | None) -> Model | None:
        return self._model_by_name.get(name) if name else None

    def identity(self, identity_id: str) -> Identity | None:
        return self._identity_by_id.get(identity_id)

    def resolve(self, user_ids: list[str | None], keys: dict[str, str | None] | None = None) -> Identity | None:
        """The identity behind raw ids (user.id, user.email, user.name, in that order), else
        behind a key (alias, id, hash, in that order), else behind the IAM role of an
        assumed-role session (`keys["iam_role"]`, the role's ARN): the first value that is an
        alias, as the generated pipeline decides."""
        for u in user_ids:
            for ident in self.identities:
                if u and u in ident.user_aliases():
                    return ident
        for kind in LAST_FIELDS:
            value = (keys or {}).get(kind)
            for ident in self.identities:
                if value and value in ident.key_aliases(kind):
                    return ident
        return None

    def allowed_identities(self, model: Model) -> list[Identity]:
        return [i for i in self.identities
                if set(i.groups) & set(model.allowed_groups) or set(i.roles) & set(model.allowed_roles)]

    def grants_for(self, model: Model, identity: Identity) -> list[Grant]:
        return [g for g in self.grants if model.id in g.models and _covers(g, identity)]

    def grantees(self, grant: Grant) -> list[str]:
        """The ids of the identities a grant covers (named, or in one of its groups), sorted."""
        return sorted(i.id for i in self.identities if _covers(grant, i))

    def approval(self, identity: Identity | None, action: str | None, timestamp: str) -> tuple[str, str | None]:
        """(approval status, grant id) for an action: `not_required` unless the action is
        privileged; then `approved` (an active grant or approval names the action), `expired`,
        or `missing`."""
        if action not in self.privileged_actions:
            return "not_required", None
        grants = [g for g in self.grants if action in g.actions and identity is not None and _covers(g, identity)]
        for g in grants:
            if g.start <= timestamp < g.expiry:
                return "approved", g.id
        for g in grants:
            if timestamp >= g.expiry:
                return "expired", g.id
        return "missing", None

    def off_hours(self, identity: Identity | None, timestamp: str) -> bool | None:
        """Outside the human identity's working hours in its own time zone (None: not known)."""
        if identity is None or identity.type != "human":
            return None
        local = datetime.fromisoformat(timestamp.replace("Z", "+00:00")).astimezone(ZoneInfo(identity.time_zone))
        hms = local.strftime("%H:%M:%S")
        return not (identity.working_hours[0] <= hms < identity.working_hours[1])

    def verdict(self, model: Model | None, identity: Identity | None, timestamp: str) -> tuple[Verdict, str]:
        """(verdict, reason) for one access; `timestamp` as the pipeline writes @timestamp."""
        if model is None:
            return "unknown", "model not inventoried"
        if identity is None:
            return "unknown", "identity not inventoried"
        if identity in self.allowed_identities(model):
            return "compliant", "allowed group or role"
        grants = self.grants_for(model, identity)
        for g in grants:
            if g.start <= timestamp < g.expiry:
                return "compliant", f"{g.kind} {g.id}"
        for g in grants:
            if timestamp >= g.expiry:
                return "noncompliant", f"{g.kind} {g.id} expired"
        for g in grants:
            if timestamp < g.start:
                return "noncompliant", f"{g.kind} {g.id} not yet active"
        return "noncompliant", "not in an allowed group or role"


# ---------------------------------------------------------------- loading

def _covers(grant: Grant, identity: Identity) -> bool:
    return identity.id in grant.identities or bool(set(identity.groups) & set(grant.groups))


def default_dir() -> Path:
    return content_dir("inventory")


def load_inventory(folder: Path | str | None = None) -> Inventory:
    """Read `inventory/` (or `folder`, from `--inventory DIR`); every problem is reported."""
    root = Path(folder) if folder else default_dir()
    if not root.is_dir():
        raise ContentError("inventory folder not found", where=str(root))
    problems: list[SiemPackError] = []
    models = [m for m in (_model(p, d, problems) for p, d in _files(root / "models", problems)) if m]
    identities = [i for i in (_identity(p, d, problems) for p, d in _files(root / "identities", problems)) if i]
    grants = [g for g in (_grant(p, d, problems) for p, d in _files(root / "grants", problems)) if g]
    levels, by_tier, by_severity, by_risk, floor = _levels(root / "response_levels.yml", problems)
    privileged = _privileged(root / "privileged_actions.yml", problems)
    _cross_check(root, models, identities, grants, problems)
    for g in grants:
        for action in g.actions:
            if action not in privileged:
                problems.append(ContentError(f"action {action!r} is not in privileged_actions.yml",
                                             where=str(root / "grants" / f"{g.id}.yml")))
    collect(problems)
    return Inventory(tuple(models), tuple(identities), tuple(grants), levels, by_tier, privileged, source=str(root),
                     level_by_severity=by_severity, level_by_risk_score=by_risk, level_floor_by_tier=floor)


def _files(folder: Path, problems: list[SiemPackError]) -> list[tuple[Path, dict[str, Any]]]:
    out = []
    for path in sorted(folder.glob("*.yml")) if folder.is_dir() else []:
        try:
            data = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as exc:
            problems.append(ContentError(f"cannot read: {exc}", where=str(path)))
            continue
        if not isinstance(data, dict):
            problems.append(ContentError("expected a mapping", where=str(path)))
            continue
        if data.get("id") != path.stem:
            problems.append(ContentError(f"id {data.get('id')!r} must equal the file name {path.stem!r}", where=str(path)))
            continue
        if not ID_RE.match(path.stem):
            problems.append(ContentError("id must be lower-case [a-z0-9._-]", where=str(path)))
            continue
        out.append((path, data))
    return out


def _keys(path: Path, data: dict[str, Any], required: set[str], optional: set[str],
          problems: list[SiemPackError]) -> bool:
    missing = required - set(data)
    unknown = set(data) - required - optional
    if missing:
        problems.append(ContentError(f"missing key(s): {', '.join(sorted(missing))}", where=str(path)))
    if unknown:
        problems.append(ContentError(f"unknown key(s): {', '.join(sorted(unknown))}; known: "
                                     f"{', '.join(sorted(required | optional))}", where=str(path)))
    return not missing and not unknown


def _strs(value: Any, path: Path, key: str, problems: list[SiemPackError]) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        problems.append(ContentError(f"{key}: expected a list of non-empty strings", where=str(path)))
        return ()
    return tuple(value)


def _model(path: Path, d: dict[str, Any], problems: list[SiemPackError]) -> Model | None:
    req = {"id", "names", "tier", "owner", "environment", "allowed_groups"}
    if not _keys(path, d, req, {"description", "allowed_roles"}, problems):
        return None
    if d["tier"] not in TIERS:
        problems.append(ContentError(f"tier {d['tier']!r}; known: {', '.join(TIERS)}", where=str(path)))
        return None
    names = _strs(d["names"], path, "names", problems)
    if not names:
        problems.append(ContentError("names: at least one model name as logs write it", where=str(path)))
    return Model(id=d["id"], description=str(d.get("description", "")), names=names, tier=cast(Tier, d["tier"]),
                 owner=str(d["owner"]), environment=str(d["environment"]),
                 allowed_groups=_strs(d["allowed_groups"], path, "allowed_groups", problems),
                 allowed_roles=_strs(d.get("allowed_roles"), path, "allowed_roles", problems))


def _identity(path: Path, d: dict[str, Any], problems: list[SiemPackError]) -> Identity | None:
    req = {"id", "name", "type", "groups", "time_zone", "aliases"}
    if not _keys(path, d, req, {"email", "roles", "working_hours", "countries"}, problems):
        return None
    countries = _strs(d.get("countries"), path, "countries", problems)
    for c in countries:
        if not re.fullmatch(r"[A-Z]{2}", c):
            problems.append(ContentError(f"countries: {c!r} is not an ISO 3166 alpha-2 code (e.g. DE, US)",
                                         where=str(path)))
    hours = str(d.get("working_hours", "08:00-19:00"))
    m = re.fullmatch(r"([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-4]):([0-5][0-9])", hours)
    if not m or hours[:5] >= hours[6:]:
        problems.append(ContentError(f"working_hours {hours!r}: expected HH:MM-HH:MM, start before end", where=str(path)))
        m = None
    if d["type"] not in get_args(IdentityType):
        problems.append(ContentError(f"type {d['type']!r}; known: human, service", where=str(path)))
        return None
    try:
        ZoneInfo(str(d["time_zone"]))
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(ContentError(f"unknown time zone {d['time_zone']!r} (IANA name, e.g. Europe/Paris)",
                                     where=str(path)))
    aliases: list[tuple[AliasKind, str]] = []
    raw = d["aliases"] or {}
    if not isinstance(raw, dict):
        problems.append(ContentError("aliases: a mapping kind -> list of ids", where=str(path)))
        raw = {}
    for kind, values in raw.items():
        if kind not in ALIAS_KINDS:
            problems.append(ContentError(f"alias kind {kind!r}; known: {', '.join(ALIAS_KINDS)}", where=str(path)))
            continue
        aliases += [(cast(AliasKind, kind), v) for v in _strs(values, path, f"aliases.{kind}", problems)]
    for v in (*[v for _, v in aliases], d["id"]):
        if "'" in v or "\\" in v:
            problems.append(ContentError(f"alias {v!r}: quotes and backslashes are not allowed", where=str(path)))
    return Identity(id=d["id"], name=str(d["name"]), type=cast(IdentityType, d["type"]), email=str(d.get("email", "")),
                    groups=_strs(d["groups"], path, "groups", problems),
                    roles=_strs(d.get("roles"), path, "roles", problems),
                    time_zone=str(d["time_zone"]), aliases=tuple(aliases),
                    working_hours=(hours[:5] + ":00", hours[6:] + ":00") if m else ("08:00:00", "19:00:00"),
                    countries=countries)


def iso_utc(value: Any) -> str:
    """An ISO-8601 date or datetime with a time zone → `yyyy-mm-ddThh:mm:ss.sssZ` (the form
    @timestamp has); ValueError without one (a grant's dates must say which zone)."""
    if isinstance(value, datetime):
        dt = value
    else:
        dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if dt.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone (write Z or +hh:mm)")
    return format_ts(dt)


def _grant(path: Path, d: dict[str, Any], problems: list[SiemPackError]) -> Grant | None:
    req = {"id", "kind", "start", "expiry", "justification", "approved_by"}
    if not _keys(path, d, req, {"identities", "groups", "models", "actions"}, problems):
        return None
    if not d.get("models") and not d.get("actions"):
        problems.append(ContentError("a grant names models (access) or actions (privileged actions) or both",
                                     where=str(path)))
    if d["kind"] not in get_args(GrantKind):
        problems.append(ContentError(f"kind {d['kind']!r}; known: grant, approval", where=str(path)))
        return None
    try:
        start, expiry = iso_utc(d["start"]), iso_utc(d["expiry"])
    except ValueError as exc:
        problems.append(ContentError(f"start/expiry: {exc}", where=str(path)))
        return None
    if start >= expiry:
        problems.append(ContentError(f"start {start} is not before expiry {expiry}", where=str(path)))
    identities = _strs(d.get("identities"), path, "identities", problems)
    groups = _strs(d.get("groups"), path, "groups", problems)
    if not identities and not groups:
        problems.append(ContentError("a grant names identities or groups", where=str(path)))
    if not str(d["justification"]).strip():
        problems.append(ContentError("justification is required", where=str(path)))
    return Grant(id=d["id"], kind=cast(GrantKind, d["kind"]), identities=identities, groups=groups,
                 models=_strs(d.get("models"), path, "models", problems),
                 actions=_strs(d.get("actions"), path, "actions", problems), start=start, expiry=expiry,
                 justification=str(d["justification"]), approved_by=str(d["approved_by"]))


LevelMaps = tuple[tuple[ResponseLevel, ...], tuple[tuple[str, str], ...], tuple[tuple[str, str], ...],
                  tuple[tuple[str, int], ...], tuple[tuple[str, str], ...]]
SEVERITIES = ("low", "medium", "high", "critical")


def _levels(path: Path, problems: list[SiemPackError]) -> LevelMaps:
    """response_levels.yml: levels (lowest first) and what maps onto them (severity, risk
    score, tier ceiling and floor); read by siem_pack.respond.levels."""
    if not path.is_file():
        return (), (), (), (), ()
    try:
        d = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        problems.append(ContentError(f"cannot read: {exc}", where=str(path)))
        return (), (), (), (), ()
    known = {"levels", "by_tier", "by_severity", "by_risk_score", "floor_by_tier"}
    if not isinstance(d, dict) or set(d) - known:
        problems.append(ContentError(f"expected a mapping with keys {', '.join(sorted(known))}", where=str(path)))
        return (), (), (), (), ()
    levels = tuple(ResponseLevel(str(x["name"]), str(x.get("description", "")), tuple(x.get("actions") or ()))
                   for x in d.get("levels", []))
    names = {lv.name for lv in levels}

    def mapping(key: str, keys: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
        out = tuple(sorted((str(k), str(v)) for k, v in (d.get(key) or {}).items()))
        for k, level in out:
            if k not in keys:
                problems.append(ContentError(f"{key}: unknown {key.split('_')[-1]} {k!r}; known: {', '.join(keys)}",
                                             where=str(path)))
            if level not in names:
                problems.append(ContentError(f"{key}.{k}: unknown level {level!r}", where=str(path)))
        return out

    by_tier = mapping("by_tier", (*TIERS, "unknown"))
    floor = mapping("floor_by_tier", (*TIERS, "unknown"))
    by_severity = mapping("by_severity", SEVERITIES)
    by_risk: list[tuple[str, int]] = []
    for level, score in (d.get("by_risk_score") or {}).items():
        if level not in names:
            problems.append(ContentError(f"by_risk_score: unknown level {level!r}", where=str(path)))
        elif not isinstance(score, (int, float)) or not 0 <= score <= 100:
            problems.append(ContentError(f"by_risk_score.{level}: expected a risk score 0-100", where=str(path)))
        else:
            by_risk.append((str(level), int(score)))
    return levels, by_tier, by_severity, tuple(by_risk), floor


def _privileged(path: Path, problems: list[SiemPackError]) -> tuple[str, ...]:
    if not path.is_file():
        return ()
    try:
        d = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        problems.append(ContentError(f"cannot read: {exc}", where=str(path)))
        return ()
    if not isinstance(d, dict) or set(d) != {"actions"}:
        problems.append(ContentError("expected one key: actions (a list of event.action values)", where=str(path)))
        return ()
    return _strs(d["actions"], path, "actions", problems)


def _cross_check(root: Path, models: list[Model], identities: list[Identity], grants: list[Grant],
                 problems: list[SiemPackError]) -> None:
    problems += _model_name_problems(root, models)
    problems += _alias_problems(root, identities)
    problems += _grant_problems(root, models, identities, grants)


def _model_name_problems(root: Path, models: list[Model]) -> list[SiemPackError]:
    """Each model name names one model, and holds no quote or backslash."""
    problems: list[SiemPackError] = []
    seen_names: dict[str, str] = {}
    for m in models:
        for n in m.names:
            if n in seen_names:
                problems.append(ContentError(f"model name {n!r} also belongs to {seen_names[n]}",
                                             where=str(root / "models" / f"{m.id}.yml")))
            seen_names[n] = m.id
            if "'" in n or "\\" in n:
                problems.append(ContentError(f"model name {n!r}: quotes and backslashes are not allowed",
                                             where=str(root / "models" / f"{m.id}.yml")))
    return problems


def _alias_problems(root: Path, identities: list[Identity]) -> list[SiemPackError]:
    """Each alias names one identity; an identity's id is one of its user aliases: it may not be another's."""
    problems: list[SiemPackError] = []
    seen_alias: dict[tuple[str, str], str] = {}
    for i in identities:
        for kind, v in (("id", i.id), *i.aliases):
            key = ("key:" + kind if kind in KEY_FIELDS else "user", v)
            if key in seen_alias and seen_alias[key] != i.id:
                problems.append(ContentError(f"alias {v!r} also belongs to {seen_alias[key]}",
                                             where=str(root / "identities" / f"{i.id}.yml")))
            seen_alias[key] = i.id
    return problems


def _grant_problems(root: Path, models: list[Model], identities: list[Identity],
                    grants: list[Grant]) -> list[SiemPackError]:
    """Each grant names inventoried models, identities and groups, and an inventoried approver."""
    problems: list[SiemPackError] = []
    model_ids = {m.id for m in models}
    identity_ids = {i.id for i in identities}
    groups = {g for i in identities for g in i.groups}
    for g in grants:
        where = str(root / "grants" / f"{g.id}.yml")
        problems += [ContentError(f"unknown model {model_id!r}", where=where)
                     for model_id in g.models if model_id not in model_ids]
        problems += [ContentError(f"unknown identity {identity_id!r}", where=where)
                     for identity_id in g.identities if identity_id not in identity_ids]
        problems += [ContentError(f"no identity is in group {grp!r}", where=where)
                     for grp in g.groups if grp not in groups]
        if g.approved_by not in identity_ids:
            problems.append(ContentError(f"approved_by {g.approved_by!r} is not an inventoried identity", where=where))
    return problems


# ---------------------------------------------------------------- compiling

def _q(value: str) -> str:
    return "'" + value + "'"


def _list(values: tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join(_q(v) for v in values) + "]"


def _path(field_name: str) -> str:
    """`user.id` → `ctx.user?.id` (null-safe all along)."""
    return "ctx." + "?.".join(field_name.split("."))


def compile_pipeline(inventory: Inventory | None = None) -> dict[str, Any]:
    """The `siem_pack-inventory` pipeline body for this inventory."""
    inv = inventory if inventory is not None else load_inventory()
    procs: list[dict[str, Any]] = []

    def add(kind: str, tag: str, cond: str | None = None, **params: Any) -> None:
        body: dict[str, Any] = {"tag": tag, **params}
        if cond:
            body["if"] = cond
        procs.append({kind: body})

    unresolved = f"{_path(MARK_IDENTITY)} == null"
    ts = "ctx['@timestamp']"
    _identity_steps(inv, add, unresolved)
    _model_steps(inv, add)
    _verdict_steps(inv, add, ts, unresolved)
    _approvals(inv, add, ts, unresolved)
    _working_hours(inv, add)
    return {
        "description": f"GENERATED by siem_pack.inventory from {len(inv.models)} models, {len(inv.identities)} "
                       f"identities and {len(inv.grants)} grants (do not edit): canonical user.id, groups, model "
                       "tier/owner/environment, and the policy verdict at the event's @timestamp.",
        "processors": procs,
    }


def _identity_steps(inv: Inventory, add: Any, unresolved: str) -> None:
    """1. identities: the raw ids in order (user.id, user.email, user.name), then the key used
    (alias, id, hash); the first field whose value is an alias marks the identity, then
    the marked identity brings its fields. One step per (field, alias): the condition of
    each starts with a comparison of the field, so the offline executor jumps straight to
    the one step for the event's value (executor._dispatch_groups) however large the
    inventory; the engines just evaluate them."""
    by_alias = sorted((a, i.id) for i in inv.identities for a in i.user_aliases())
    for fld in USER_FIELDS:
        for n, (alias, ident_id) in enumerate(by_alias):
            add("set", f"inventory-alias-{ident_id}-{fld.replace('.', '-')}-{n}",
                f"{_path(fld)} == {_q(alias)} && {unresolved}", field=MARK_IDENTITY, value=ident_id)
    for kind, fld in LAST_FIELDS.items():
        keys = sorted((a, i.id) for i in inv.identities for a in i.key_aliases(kind))
        for n, (alias, ident_id) in enumerate(keys):
            add("set", f"inventory-alias-{ident_id}-{kind.replace('_', '-')}-{n}",
                f"{_path(fld)} == {_q(alias)} && {unresolved}", field=MARK_IDENTITY, value=ident_id)
    for ident in inv.identities:
        _identity_sets(add, ident)
    add("set", "inventory-identity-unknown", f"{unresolved} && ctx.siem_pack?.identity?.type == null",
        field="siem_pack.identity.type", value="unknown")


def _model_steps(inv: Inventory, add: Any) -> None:
    """2. models: one step per model name, comparing the event's model with it (a name belongs
    to one model, so at most one matches; offline, one dispatch on the model finds it), then
    what the model brings."""
    for m in inv.models:
        for k, name in enumerate(m.names):
            add("set", f"inventory-model-{m.id}" + (f"-name-{k}" if k else ""),
                f"ctx.gen_ai?.request?.model == {_q(name)} && {_path(MARK_MODEL)} == null",
                field=MARK_MODEL, value=m.id)
    for m in inv.models:
        add("set", f"inventory-model-{m.id}-id", f"{_path(MARK_MODEL)} == {_q(m.id)}", field="siem_pack.model.id", value=m.id)
        add("set", f"inventory-model-{m.id}-tier", f"{_path(MARK_MODEL)} == {_q(m.id)}",
            field="siem_pack.model.tier", value=m.tier)
        add("set", f"inventory-model-{m.id}-owner", f"{_path(MARK_MODEL)} == {_q(m.id)}",
            field="siem_pack.model.owner", value=m.owner)
        add("set", f"inventory-model-{m.id}-environment", f"{_path(MARK_MODEL)} == {_q(m.id)}",
            field="siem_pack.model.environment", value=m.environment)
    add("set", "inventory-model-unknown", None, field="siem_pack.model.tier", value="unknown", override=False)


def _verdict_steps(inv: Inventory, add: Any, ts: str, unresolved: str) -> None:
    """3. the policy verdict, first match wins (each step only fills an empty verdict)."""
    open_ = "ctx.siem_pack.policy?.verdict == null"

    def verdict(tag: str, cond: str, value: str, reason: str) -> None:
        """A verdict and its reason, under one condition (the reason first: it needs the
        verdict still empty)."""
        add("set", f"{tag}-reason", cond, field="siem_pack.policy.reason", value=reason)
        add("set", tag, cond, field="siem_pack.policy.verdict", value=value)

    def on_grant(m: Model, g: Grant) -> str:
        """The model first (see 1.), then an identity the grant names or one of its groups."""
        return (f"{_path(MARK_MODEL)} == {_q(m.id)} && {open_} && "
                f"{_list(inv.grantees(g))}.contains({_path(MARK_IDENTITY)})")

    verdict("inventory-verdict-no-model", f"{open_} && ctx.gen_ai?.request?.model == null", "unknown",
            "no model in event")
    verdict("inventory-verdict-model-unknown", f"{open_} && {_path(MARK_MODEL)} == null", "unknown",
            "model not inventoried")
    verdict("inventory-verdict-identity-unknown", f"{open_} && {unresolved}", "unknown", "identity not inventoried")
    grants = [(m, g) for m in inv.models for g in inv.grants if m.id in g.models]
    for m in inv.models:
        allowed = [i.id for i in inv.allowed_identities(m)]
        if allowed:
            verdict(f"inventory-allowed-{m.id}",
                    f"{_path(MARK_MODEL)} == {_q(m.id)} && {open_} && {_list(allowed)}.contains({_path(MARK_IDENTITY)})",
                    "compliant", "allowed group or role")
        for g in [g for mm, g in grants if mm is m]:
            verdict(f"inventory-grant-{g.id}-{m.id}",
                    f"{on_grant(m, g)} && {ts}.compareTo({_q(g.start)}) >= 0 && {ts}.compareTo({_q(g.expiry)}) < 0",
                    "compliant", f"{g.kind} {g.id}")
    for m, g in grants:
        verdict(f"inventory-grant-{g.id}-{m.id}-expired", f"{on_grant(m, g)} && {ts}.compareTo({_q(g.expiry)}) >= 0",
                "noncompliant", f"{g.kind} {g.id} expired")
    for m, g in grants:
        verdict(f"inventory-grant-{g.id}-{m.id}-early", f"{on_grant(m, g)} && {ts}.compareTo({_q(g.start)}) < 0",
                "noncompliant", f"{g.kind} {g.id} not yet active")
    verdict("inventory-verdict-denied", open_, "noncompliant", "not in an allowed group or role")


def _approvals(inv: Inventory, add: Any, ts: str, unresolved: str) -> None:
    """siem_pack.approval.status/.id for privileged actions (privileged_actions.yml)."""
    if not inv.privileged_actions:
        add("set", "inventory-approval-not-required", None, field="siem_pack.approval.status", value="not_required")
        return
    # the marker says "privileged, status open" once; each step below starts by comparing
    # it, so the offline executor skips them all for the (many) unprivileged events
    open_ = f"ctx.siem_pack.approval?.status == null && {_list(inv.privileged_actions)}.contains(ctx.event?.action)"
    add("set", "inventory-approval-privileged", open_, field=MARK_PRIVILEGED, value="yes")
    open_ = f"{_path(MARK_PRIVILEGED)} == 'yes' && {open_}"
    granting = [g for g in inv.grants if g.actions]
    for status in ("approved", "expired"):
        for g in granting:
            window = (f"{ts}.compareTo({_q(g.start)}) >= 0 && {ts}.compareTo({_q(g.expiry)}) < 0" if status == "approved"
                      else f"{ts}.compareTo({_q(g.expiry)}) >= 0")
            cond = (f"{open_} && {_list(g.actions)}.contains(ctx.event.action) && "
                    f"{_list(inv.grantees(g))}.contains({_path(MARK_IDENTITY)}) && {window}")
            add("set", f"inventory-approval-{g.id}-{status}-id", cond, field="siem_pack.approval.id", value=g.id)
            add("set", f"inventory-approval-{g.id}-{status}", cond, field="siem_pack.approval.status", value=status)
    add("set", "inventory-approval-missing", open_, field="siem_pack.approval.status", value="missing")
    add("set", "inventory-approval-not-required", None, field="siem_pack.approval.status", value="not_required",
        override=False)


def _working_hours(inv: Inventory, add: Any) -> None:
    """siem_pack.user.off_hours for human identities: @timestamp in the identity's time zone
    (the date processor's `timezone`), its local hh:mm:ss compared with working_hours."""
    humans = [i for i in inv.identities if i.type == "human"]
    for ident in humans:
        add("date", f"inventory-local-time-{ident.id}", f"{_path(MARK_IDENTITY)} == {_q(ident.id)}",
            field="@timestamp", target_field=LOCAL_TIME, formats=["ISO8601"], timezone=ident.time_zone)
    add("dissect", "inventory-local-hms", f"{_path(LOCAL_TIME)} != null", field=LOCAL_TIME,
        pattern="%{}T%{" + LOCAL_HMS + "}.%{}")
    hms = _path(LOCAL_HMS)
    for ident in humans:
        start, end = ident.working_hours
        mine = f"{_path(MARK_IDENTITY)} == {_q(ident.id)} && {hms} != null"
        add("set", f"inventory-off-hours-{ident.id}",
            f"{mine} && ({hms}.compareTo({_q(start)}) < 0 || {hms}.compareTo({_q(end)}) >= 0)",
            field="siem_pack.user.off_hours", value=True)
        add("set", f"inventory-on-hours-{ident.id}", mine, field="siem_pack.user.off_hours", value=False,
            override=False)


def _identity_sets(add: Any, ident: Identity) -> None:
    """What a marked identity brings (whichever alias marked it)."""
    tag = f"inventory-identity-{ident.id}"
    mine = f"{_path(MARK_IDENTITY)} == {_q(ident.id)}"
    add("set", f"{tag}-user-id", mine, field="user.id", value=ident.id)
    add("set", f"{tag}-type", mine, field="siem_pack.identity.type", value=ident.type)
    if ident.email:
        add("set", f"{tag}-email", mine, field="user.email", value=ident.email, override=False)
    if ident.groups:
        add("set", f"{tag}-groups", mine, field="user.group.name", value=list(ident.groups))
    if ident.roles:
        for role in ident.roles:
            add("append", f"{tag}-role-{role}", mine, field="user.roles", value=role, allow_duplicates=False)
    if ident.countries:  # a call from where the identity works is not a new country for it (geo runs first)
        add("set", f"{tag}-home-country", f"{mine} && ctx.source?.geo?.country_iso_code != null && "
            f"{_list(ident.countries)}.contains(ctx.source.geo.country_iso_code)",
            field="siem_pack.user.home_country", value=True)


def pipeline_file() -> Path:
    return content_dir("ingest_pipelines") / f"{PIPELINE_ID}.yml"


if __name__ == "__main__":  # pragma: no cover - regenerate the kept copy
    from .ingest.secrets import render_yaml

    folder = sys.argv[1] if len(sys.argv) > 1 else None
    pipeline_file().write_text(render_yaml(compile_pipeline(load_inventory(folder))))
    sys.stdout.write(f"wrote {pipeline_file()}\n")
