"""Stage 3 content: detection rules (`detections/*.toml`, rendered templates from
`detections/templates/*.toml.j2`), allow-list exceptions (`detections/exceptions/*.toml`)
and the tag vocabulary (`detections/vocabulary.yml`), loaded once into frozen dataclasses.

Loading collects every problem (syntax, missing keys, unknown fields, severity/risk-score
mismatch, duplicate ids, tags outside the vocabulary) and raises them together.
Consumers: schedule.py and the runners (execution), kibana.py and export.py (payloads),
siem_pack.cli.rules (the command line).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import jinja2
import jinja2.meta
import yaml

from ..backends.indices import ANOMALIES_INDEX, EVENTS_PATTERN
from ..errors import ContentError, SiemPackError, collect
from ..paths import content_dir
from ..schema import Schema, load_schema
from ..times import parse_duration, parse_ts
from .eql import SequenceQuery, parse_eql
from .kuery import Node, QuerySyntaxError, fields_of, parse_kuery, parse_lucene, to_dsl

RuleType = Literal["query", "threshold", "new_terms", "eql", "esql"]
RULE_TYPES: tuple[str, ...] = ("query", "threshold", "new_terms", "eql", "esql")
SEVERITY_RISK: dict[str, int] = {"low": 21, "medium": 47, "high": 73, "critical": 99}
REQUIRED = ("rule_id", "name", "description", "type", "severity", "risk_score", "tags", "false_positives",
            "note", "interval", "from", "author", "language")
ENTITY_FIELDS = ("user.id", "siem_pack.api_key.id", "gen_ai.request.model", "source.ip")


@dataclass(frozen=True)
class Query:
    """A query in one language: `lucene` goes to Elasticsearch unchanged (query_string);
    `kuery` and EQL conditions go through the AST."""

    language: str
    text: str
    ast: Node

    def dsl(self) -> dict[str, Any]:
        if self.language == "lucene":
            return {"query_string": {"query": self.text}}
        return to_dsl(self.ast)


@dataclass(frozen=True)
class Threshold:
    fields: tuple[str, ...]
    value: int
    cardinality_field: str | None = None
    cardinality_value: int | None = None


@dataclass(frozen=True)
class NewTerms:
    fields: tuple[str, ...]
    history: timedelta  # history_window_start = now-<history>


@dataclass(frozen=True)
class Silence:
    """The ES|QL "source gone silent" shape: per `field`, the newest event in the look-back;
    an alert when it is older than `quiet` at the tick."""

    field: str
    quiet: timedelta
    present: str | None = None  # optional `| WHERE <field> IS NOT NULL` before STATS: only such events


MissingFields = Literal["suppress", "doNotSuppress"]
SUPPRESSION_UNITS = {"s": "seconds", "m": "minutes", "h": "hours"}  # Kibana's duration units


@dataclass(frozen=True)
class Suppression:
    """Kibana's `alert_suppression`: alerts of one rule with equal values of `group_by`
    (threshold rules: the threshold fields) raised within `duration` of an episode's first
    alert fold into that alert (siem_pack.detect.episodes). `missing` says what happens to
    alerts lacking a group_by value: `suppress` folds them into one episode of their own,
    `doNotSuppress` keeps every one."""

    group_by: tuple[str, ...]
    duration: timedelta
    missing: MissingFields = "suppress"


@dataclass(frozen=True)
class Rule:
    path: Path
    stem: str
    metadata: Mapping[str, Any]
    body: Mapping[str, Any]  # the [rule] table as written
    rule_id: str
    name: str
    type: RuleType
    severity: str
    risk_score: int
    tags: tuple[str, ...]
    interval: timedelta
    lookback: timedelta
    index: tuple[str, ...]
    query: Query | None = None
    threshold: Threshold | None = None
    new_terms: NewTerms | None = None
    sequence: SequenceQuery | None = None
    silence: Silence | None = None
    suppression: Suppression | None = None
    template: bool = False

    @property
    def table(self) -> Literal["events", "anomalies"]:
        """The embedded table the rule reads (its index names `siem-pack-anomalies` or not)."""
        return "anomalies" if any(i.startswith(ANOMALIES_INDEX) for i in self.index) else "events"

    def fields(self) -> set[str]:
        out: set[str] = set()
        if self.query is not None:
            out |= fields_of(self.query.ast)
        if self.threshold:
            out |= set(self.threshold.fields)
            if self.threshold.cardinality_field:
                out.add(self.threshold.cardinality_field)
        if self.new_terms:
            out |= set(self.new_terms.fields)
        if self.sequence:
            out |= set(self.sequence.by)
            for s in self.sequence.steps:
                out |= fields_of(s.condition)
        if self.silence:
            out.add(self.silence.field)
        if self.suppression:
            out |= set(self.suppression.group_by)
        return out


@dataclass(frozen=True)
class AllowEntry:
    """An allow-list exception: events matching every `match` pair are not rule input
    for the listed rules until `expires`."""

    path: Path
    item_id: str
    name: str
    reason: str
    rule_ids: tuple[str, ...]
    match: tuple[tuple[str, str], ...]
    expires: datetime | None  # naive UTC
    author: str = ""
    created: str = ""

    def active(self, at: datetime) -> bool:
        return self.expires is None or at < self.expires


@dataclass(frozen=True)
class Vocabulary:
    tags: frozenset[str]
    atlas_techniques: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    atlas_tactics: Mapping[str, str] = field(default_factory=dict)
    owasp: Mapping[str, str] = field(default_factory=dict)


def duration_of_from(value: str) -> timedelta:
    """A rule's look-back (`from`, `history_window_start`): `now-6m`."""
    return parse_duration(value, ago=True, message="from {text!r} is not of the form now-<n><s|m|h|d>")


def duration_of_interval(value: str) -> timedelta:
    """A rule's `interval`: `5m`."""
    return parse_duration(value, message="interval {text!r} is not of the form <n><s|m|h|d>")


def _line_of(text: str, needle: str) -> int:
    for i, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return i
    return 1


_ESQL_SILENCE = re.compile(
    r"^\s*FROM\s+\S+(?:\s+METADATA\s+[\w, ]+)?\s*"
    r"(?:\|\s*WHERE\s+(?P<present>[\w.]+)\s+IS\s+NOT\s+NULL\s*)?"
    r"\|\s*STATS\s+last_seen\s*=\s*MAX\(@timestamp\)(?:\s*,\s*\w+\s*=\s*COUNT\(\*\))?\s+BY\s+(?P<field>[\w.]+)\s*"
    r"\|\s*WHERE\s+last_seen\s*<\s*NOW\(\)\s*-\s*(?P<n>\d+)\s*(?P<unit>minutes?|hours?|days?)\s*$",
    re.IGNORECASE | re.DOTALL,
)


def parse_silence(query: str) -> Silence:
    m = _ESQL_SILENCE.match(query)
    if not m:
        raise QuerySyntaxError(
            "ES|QL is supported only in the source-silence shape: "
            "FROM <index> [| WHERE <field> IS NOT NULL] | STATS last_seen = MAX(@timestamp) BY <field> "
            "| WHERE last_seen < NOW() - <n> <unit>")
    unit = m.group("unit").lower().rstrip("s") + "s"
    return Silence(m.group("field"), timedelta(**{unit: int(m.group("n"))}), m.group("present"))


def parse_suppression(raw: Any, rtype: str, thr: Threshold | None, interval: timedelta) -> Suppression:
    """`[rule.alert_suppression]` → Suppression. Kibana's shapes: threshold rules take only
    `duration` (they suppress by their threshold fields); the other types take `group_by`
    (1 to 3 fields), `duration` and `missing_fields_strategy`. We also require `duration`
    (no duration means "per rule execution" in Kibana, which our replay has no use for) and
    a duration of at least one interval."""
    if not isinstance(raw, dict):
        raise ValueError("must be a table")
    allowed = {"duration"} if rtype == "threshold" else {"duration", "group_by", "missing_fields_strategy"}
    extra = sorted(set(raw) - allowed)
    if extra:
        raise ValueError(f"unknown key(s) for a {rtype} rule: {', '.join(extra)}; known: {', '.join(sorted(allowed))}")
    dur = raw.get("duration")
    if not isinstance(dur, dict) or set(dur) != {"unit", "value"}:
        raise ValueError("needs duration = {unit = \"s\"|\"m\"|\"h\", value = <int>}")
    unit, value = dur["unit"], dur["value"]
    if unit not in SUPPRESSION_UNITS or not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"duration {dur!r}: unit is one of s, m, h and value an integer >= 1")
    duration = timedelta(**{SUPPRESSION_UNITS[unit]: value})
    if duration < interval:
        raise ValueError(f"duration {value}{unit} is shorter than the rule's interval: nothing would be suppressed")
    if rtype == "threshold":
        return Suppression(thr.fields if thr else (), duration, "suppress")
    group_by = raw.get("group_by")
    if (not isinstance(group_by, list) or not 1 <= len(group_by) <= 3 or len(set(group_by)) != len(group_by)
            or not all(isinstance(f, str) and f for f in group_by)):
        raise ValueError("group_by must list 1 to 3 distinct field names")
    missing = raw.get("missing_fields_strategy", "suppress")
    if missing not in ("suppress", "doNotSuppress"):
        raise ValueError(f"missing_fields_strategy {missing!r}; known: suppress, doNotSuppress")
    return Suppression(tuple(group_by), duration, missing)


@dataclass(frozen=True)
class _Source:
    """One rule file being parsed: where it is, its text and [rule] table, and the problems so far."""

    where: str
    text: str
    body: Mapping[str, Any]
    problems: list[SiemPackError]

    def problem(self, msg: str, near: str | None = None) -> None:
        """Record a problem, at the line of the first occurrence of `near` when given."""
        self.problems.append(ContentError(msg, where=f"{self.where}:{_line_of(self.text, near)}" if near
                                          else self.where))

    @property
    def query_text(self) -> str:
        return str(self.body.get("query", ""))


@dataclass
class _Parts:
    """What a rule type's parser reads from the [rule] table."""

    query: Query | None = None
    threshold: Threshold | None = None
    new_terms: NewTerms | None = None
    sequence: SequenceQuery | None = None
    silence: Silence | None = None


def _kql_query(src: _Source, rtype: str) -> Query | None:
    """The kuery or lucene query of a query, threshold or new_terms rule."""
    language, text = src.body.get("language"), src.query_text
    try:
        if language == "kuery":
            return Query("kuery", text, parse_kuery(text))
        if language == "lucene":
            return Query("lucene", text, parse_lucene(text))
    except QuerySyntaxError as exc:
        src.problem(f"query: {exc}", "query =")
        return None
    src.problem(f"language {language!r} for a {rtype} rule; use kuery or lucene")
    return None


def _parse_query_rule(src: _Source) -> _Parts:
    return _Parts(query=_kql_query(src, "query"))


def _parse_threshold_rule(src: _Source) -> _Parts:
    parts = _Parts(query=_kql_query(src, "threshold"))
    t = src.body.get("threshold") or {}
    card = (t.get("cardinality") or [None])[0]
    try:
        parts.threshold = Threshold(tuple(t.get("field", [])), int(t["value"]),
                                    card["field"] if card else None, int(card["value"]) if card else None)
    except (KeyError, TypeError, ValueError):
        src.problem("[rule.threshold] needs field = [...] and value = <int>")
    return parts


def _parse_new_terms_rule(src: _Source) -> _Parts:
    parts = _Parts(query=_kql_query(src, "new_terms"))
    n = src.body.get("new_terms") or {}
    hist = [h.get("value") for h in n.get("history_window_start", []) if isinstance(h, dict)]
    try:
        parts.new_terms = nt = NewTerms(tuple(n.get("value", [])), duration_of_from(str(hist[0] if hist else "")))
        if n.get("field") != "new_terms_fields" or not nt.fields:  # kept: its fields are still checked
            raise ValueError("new_terms.field must be \"new_terms_fields\" with value = [fields]")
    except ValueError as exc:
        src.problem(f"[rule.new_terms]: {exc}")
    return parts


def _parse_eql_rule(src: _Source) -> _Parts:
    parts = _Parts()
    if src.body.get("language") != "eql":
        src.problem("an eql rule needs language = \"eql\"")
    try:
        parts.sequence = parse_eql(src.query_text)
    except QuerySyntaxError as exc:
        src.problem(f"query: {exc}", "query =")
    return parts


def _parse_esql_rule(src: _Source) -> _Parts:
    parts = _Parts()
    if src.body.get("language") != "esql":
        src.problem("an esql rule needs language = \"esql\"")
    try:
        parts.silence = sil = parse_silence(src.query_text)
        if sil.present:  # the ES|QL pre-filter is the rule's query for both runners
            parts.query = Query("kuery", f"{sil.present}: *", parse_kuery(f"{sil.present}: *"))
    except QuerySyntaxError as exc:
        src.problem(f"query: {exc}", "query =")
    return parts


# The registry: a rule's `type` → the parser of its type-specific parts.
RULE_PARSERS: dict[str, Callable[[_Source], _Parts]] = {
    "query": _parse_query_rule,
    "threshold": _parse_threshold_rule,
    "new_terms": _parse_new_terms_rule,
    "eql": _parse_eql_rule,
    "esql": _parse_esql_rule,
}


def _check_tables(src: _Source, data: Mapping[str, Any], meta: Mapping[str, Any]) -> None:
    extra = set(data) - {"metadata", "rule"}
    if extra:
        src.problem(f"unknown top-level table(s): {', '.join(sorted(extra))}")
    for key in REQUIRED:
        if key not in src.body:
            src.problem(f"[rule] is missing {key!r}")
    for key in ("creation_date", "updated_date", "maturity", "mission_indicator", "runbook"):
        if key not in meta:
            src.problem(f"[metadata] is missing {key!r}")


def _check_severity(src: _Source, sev: Any, risk: Any) -> None:
    if sev not in SEVERITY_RISK:
        src.problem(f"severity {sev!r}; known: {', '.join(SEVERITY_RISK)}")
    elif risk != SEVERITY_RISK[sev]:
        src.problem(f"risk_score {risk} does not match severity {sev} ({SEVERITY_RISK[sev]})", "risk_score")


def _timing(src: _Source) -> tuple[timedelta, timedelta]:
    """(interval, look-back); five minutes each when either is malformed."""
    try:
        interval = duration_of_interval(str(src.body.get("interval", "")))
        lookback = duration_of_from(str(src.body.get("from", "")))
    except ValueError as exc:
        src.problem(str(exc))
        return timedelta(minutes=5), timedelta(minutes=5)
    if lookback < interval:
        src.problem(f"look-back {src.body.get('from')} is shorter than interval {src.body.get('interval')}: "
                    "events would be missed")
    return interval, lookback


def _suppression(src: _Source, rtype: str, thr: Threshold | None, interval: timedelta) -> Suppression | None:
    if "alert_suppression" not in src.body:
        return None
    try:
        return parse_suppression(src.body["alert_suppression"], rtype, thr, interval)
    except ValueError as exc:
        src.problem(f"[rule.alert_suppression]: {exc}", "[rule.alert_suppression")
        return None


def _check_fields(src: _Source, rule: Rule, schema: Schema) -> None:
    """Every field the rule reads is in the schema, and none it groups on holds a list."""
    grouped = (set(rule.threshold.fields if rule.threshold else ()) | set(rule.new_terms.fields if rule.new_terms
               else ()) | set(rule.sequence.by if rule.sequence else ())
               | set(rule.suppression.group_by if rule.suppression else ()))
    for fname in sorted(rule.fields()):
        if fname not in schema:
            src.problem(f"field {fname!r} is not in schema/fields.yml", fname)
        else:
            f = schema.resolve(fname)
            if f is not None and f.array and fname in grouped:
                src.problem(f"field {fname!r} holds a list and cannot be grouped on")


def parse_rule(path: Path, text: str, schema: Schema, template: bool = False, stem: str | None = None) -> Rule:
    """One rule file's text → Rule; raises ContentErrors with every problem found."""
    where = str(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ContentError(f"not valid TOML: {exc}", where=where) from exc
    meta = data.get("metadata")
    body = data.get("rule")
    if not isinstance(meta, dict) or not isinstance(body, dict):
        raise ContentError("a rule file needs a [metadata] and a [rule] table", where=where)
    src = _Source(where, text, body, [])
    _check_tables(src, data, meta)
    rtype = body.get("type")
    if rtype not in RULE_TYPES:
        src.problem(f"type {rtype!r} unsupported; known: {', '.join(RULE_TYPES)}", "type =")
    sev, risk = body.get("severity"), body.get("risk_score")
    _check_severity(src, sev, risk)
    interval, lookback = _timing(src)
    if not str(body.get("note", "")).count("docs/runbook.md#"):
        src.problem("note must link its runbook section (docs/runbook.md#<family>)")
    parse_type = RULE_PARSERS.get(rtype) if isinstance(rtype, str) else None
    parts = parse_type(src) if parse_type else _Parts()
    sup = _suppression(src, str(rtype), parts.threshold, interval)
    rule_id = str(body.get("rule_id", ""))
    if not re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", rule_id):
        src.problem(f"rule_id {rule_id!r} is not a lowercase UUID")
    index = tuple(body.get("index", [EVENTS_PATTERN] if rtype != "esql" else []))
    rule = Rule(path=path, stem=stem or path.name.removesuffix(".j2").removesuffix(".toml"), metadata=meta,
                body=body, rule_id=rule_id, name=str(body.get("name", "")), type=rtype or "query",
                severity=str(sev), risk_score=int(risk or 0), tags=tuple(body.get("tags", [])), interval=interval,
                lookback=lookback, index=index, query=parts.query, threshold=parts.threshold,
                new_terms=parts.new_terms, sequence=parts.sequence, silence=parts.silence, suppression=sup,
                template=template)
    _check_fields(src, rule, schema)
    collect(src.problems)
    return rule


def load_vocabulary(path: Path | None = None) -> Vocabulary:
    p = path or content_dir("detections") / "vocabulary.yml"
    try:
        raw = yaml.safe_load(p.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ContentError(f"cannot read the tag vocabulary: {exc}", where=str(p)) from exc
    techniques = raw.get("atlas_techniques", {})
    owasp = raw.get("owasp_llm", {})
    tags = set(raw.get("tags", [])) | set(techniques) | set(owasp)
    return Vocabulary(frozenset(tags), techniques, raw.get("atlas_tactics", {}), owasp)


def check_tags(rule: Rule, vocab: Vocabulary) -> list[SiemPackError]:
    problems: list[SiemPackError] = []
    where = str(rule.path)
    for tag in rule.tags:
        if tag not in vocab.tags:
            problems.append(ContentError(f"tag {tag!r} is not in detections/vocabulary.yml", where=where))
    if not any(t in vocab.atlas_techniques for t in rule.tags):
        problems.append(ContentError("no MITRE ATLAS technique tag (AML.Txxxx)", where=where))
    if not any(t in vocab.owasp for t in rule.tags):
        problems.append(ContentError("no OWASP LLM tag with its year (e.g. LLM10:2025)", where=where))
    return problems


def rule_files(root: Path | None = None) -> list[Path]:
    return sorted((root or content_dir("detections")).glob("*.toml"))


def template_files(root: Path | None = None) -> list[Path]:
    return sorted(((root or content_dir("detections")) / "templates").glob("*.toml.j2"))


def _env(root: Path) -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(root)), undefined=jinja2.StrictUndefined,
                              keep_trailing_newline=True, autoescape=False)


def template_variables(root: Path | None = None) -> dict[str, list[str]]:
    """Template file stem → the threshold names it uses."""
    tdir = (root or content_dir("detections")) / "templates"
    env = _env(tdir)
    out = {}
    for p in template_files(root):
        ast = env.parse(p.read_text())
        out[p.name.removesuffix(".toml.j2")] = sorted(jinja2.meta.find_undeclared_variables(ast))
    return out


def render_templates(thresholds: Mapping[str, Any] | None = None, root: Path | None = None,
                     schema: Schema | None = None) -> list[Rule]:
    """Render every `detections/templates/*.toml.j2` with baseline thresholds (a flat mapping
    name → number; a template's own `| default(..)` applies to missing names) into Rules.
    Used by `jobs refresh-content` and by the rule tests (with no thresholds)."""
    schema = schema or load_schema()
    tdir = (root or content_dir("detections")) / "templates"
    env = _env(tdir)
    rules: list[Rule] = []
    problems: list[SiemPackError] = []
    for p in template_files(root):
        try:
            text = env.get_template(p.name).render(**dict(thresholds or {}))
            rules.append(parse_rule(p, text, schema, template=True))
        except jinja2.TemplateError as exc:
            problems.append(ContentError(f"template: {exc}", where=str(p)))
        except SiemPackError as exc:
            problems.extend(getattr(exc, "problems", [exc]))
    collect(problems)
    return rules


def load_rules(root: Path | None = None, schema: Schema | None = None, thresholds: Mapping[str, Any] | None = None,
               with_templates: bool = True) -> list[Rule]:
    """Every rule (files, then rendered templates), checked together: ids unique, tags known."""
    schema = schema or load_schema()
    root = root or content_dir("detections")
    vocab = load_vocabulary(root / "vocabulary.yml")
    rules: list[Rule] = []
    problems: list[SiemPackError] = []
    for p in rule_files(root):
        try:
            rules.append(parse_rule(p, p.read_text(), schema))
        except SiemPackError as exc:
            problems.extend(getattr(exc, "problems", [exc]))
    if with_templates:
        try:
            rules.extend(render_templates(thresholds, root, schema))
        except SiemPackError as exc:
            problems.extend(getattr(exc, "problems", [exc]))
    seen: dict[str, Path] = {}
    for r in rules:
        problems.extend(check_tags(r, vocab))
        if r.rule_id in seen:
            problems.append(ContentError(f"rule_id {r.rule_id} also used by {seen[r.rule_id].name}", where=str(r.path)))
        seen[r.rule_id] = r.path
    collect(problems)
    return rules


def load_exceptions(root: Path | None = None, schema: Schema | None = None,
                    rule_ids: Iterable[str] | None = None) -> list[AllowEntry]:
    schema = schema or load_schema()
    edir = (root or content_dir("detections")) / "exceptions"
    known = set(rule_ids) if rule_ids is not None else None
    out: list[AllowEntry] = []
    problems: list[SiemPackError] = []
    for p in sorted(edir.glob("*.toml")):
        where = str(p)
        try:
            data = tomllib.loads(p.read_text()).get("exception")
        except tomllib.TOMLDecodeError as exc:
            problems.append(ContentError(f"not valid TOML: {exc}", where=where))
            continue
        if not isinstance(data, dict):
            problems.append(ContentError("an exception file needs an [exception] table", where=where))
            continue
        missing = [k for k in ("item_id", "name", "reason", "rule_ids", "match", "expires") if k not in data]
        if missing:
            problems.append(ContentError(f"[exception] is missing {', '.join(missing)}", where=where))
            continue
        match = tuple(sorted((str(k), str(v)) for k, v in data["match"].items()))
        for fname, _ in match:
            if fname not in schema:
                problems.append(ContentError(f"field {fname!r} is not in schema/fields.yml", where=where))
        if known is not None:
            for rid in data["rule_ids"]:
                if rid not in known:
                    problems.append(ContentError(f"rule_id {rid} names no rule", where=where))
        exp = data["expires"]
        if isinstance(exp, datetime):
            expires = parse_ts(exp)
        else:
            problems.append(ContentError("expires must be a TOML date-time (e.g. 2027-01-31T00:00:00Z)", where=where))
            continue
        if p.stem != data["item_id"]:
            problems.append(ContentError(f"file name must be its item_id ({data['item_id']}.toml)", where=where))
        out.append(AllowEntry(p, str(data["item_id"]), str(data["name"]), str(data["reason"]),
                              tuple(data["rule_ids"]), match, expires, str(data.get("author", "")),
                              str(data.get("created", ""))))
    collect(problems)
    return out


def exceptions_for(rule: Rule, entries: Iterable[AllowEntry]) -> list[AllowEntry]:
    """The allow-list entries that name the rule."""
    return [e for e in entries if rule.rule_id in e.rule_ids]


def find_rule(rules: Iterable[Rule], key: str) -> Rule:
    for r in rules:
        if key in (r.rule_id, r.stem, r.name):
            return r
    raise ContentError(f"no rule named {key!r} (give a rule_id or file stem)", where="rule")
