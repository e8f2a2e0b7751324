"""Cross-cutting (deploy): compare the bundle with the cluster: per object create, update (with a
short diff), unchanged, or drifted (changed by hand since we deployed it). Returns data; prints
nothing.

How an object is judged, from its installed body and our marker in it:
- absent → `create`;
- marker hash equals the bundle's and the installed body still matches the bundle → `unchanged`;
- marker hash equals the bundle's but the installed body differs → `drifted` (a hand edit);
- marker hash differs (a newer bundle) or no marker (not ours yet) → `update`;
- our indices (no marker: created once) → `drifted` when their settings differ from what the
  bundle gives them (our index body plus the settings of our index template that matches).

The comparison reads every key our body sets, and on Elasticsearch objects also every key
the cluster has that our body lacks: a hand-added key is drift (`+ path = value`), unless
Elasticsearch adds it by itself (`SERVER_ADDED`). Scalars compare as text (Elasticsearch
returns settings as strings); settings compare flattened (`index.number_of_replicas`).
Kibana objects are read only on the keys we set (Kibana adds many of its own).
`uninstall_plan()` lists what `uninstall` removes, data included when asked.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from fnmatch import fnmatchcase
from typing import Any, Literal

from elasticsearch import Elasticsearch

from ..templates import strip_marker
from .bundle import KIBANA_KINDS, ORDER, Bundle, DeployObject
from .kibana import KibanaClient
from .state import data_targets, read

Action = Literal["create", "update", "unchanged", "drifted", "delete"]
PENDING = ("create", "update", "drifted", "delete")
# keys analysts may change in Kibana without it being drift (Kibana objects only)
IGNORED = {"enabled", "id", "created_at", "updated_at", "created_by", "updated_by", "revision", "execution_summary"}
ANY = "<any value>"
# What Elasticsearch adds to a body by itself, per kind: a path (`*` one key, `[]` any list item)
# and the value it writes (ANY: whatever it is). Read off the real node (9.5: templates,
# pipelines, roles, indices) and, for what that node lacks, Elasticsearch's documented
# answers (ILM phases, data stream templates). Our own marker (`_meta`, `metadata`) is never
# compared. Any other key the cluster has and our body lacks is foreign: drift.
_DATES = {"created_date_millis": ANY, "modified_date_millis": ANY, "created_date": ANY, "modified_date": ANY}
SERVER_ADDED: dict[str, dict[str, Any]] = {
    "component_template": _DATES,
    "index_template": {**_DATES, "data_stream.hidden": False, "data_stream.allow_custom_routing": False},
    "ingest_pipeline": _DATES,
    "ilm_policy": {"policy.phases.*.min_age": "0ms",
                   "policy.phases.delete.actions.delete.delete_searchable_snapshot": True},
    "role": {"applications": [], "run_as": [], "transient_metadata": ANY, "indices[].allow_restricted_indices": False},
    "index": {f"settings.index.{k}": v for k, v in {
        "creation_date": ANY, "uuid": ANY, "version.created": ANY, "provided_name": ANY, "history.uuid": ANY,
        "routing.allocation.include._tier_preference": ANY, "number_of_shards": ANY, "number_of_replicas": "1",
        "lifecycle.indexing_complete": ANY}.items()},  # the last one: set by ILM at rollover
}
# where a body holds index settings (flattened before comparing)
_SETTINGS_AT = {"component_template": ("template",), "index_template": ("template",), "index": ()}


@dataclass(frozen=True)
class Foreign:
    """A key the cluster has that our body does not set (and the server does not add)."""

    path: str
    value: Any


@dataclass
class Change:
    kind: str
    name: str
    action: Action
    diff: list[str] = field(default_factory=list)
    note: str = ""
    installed_version: str | None = None
    foreign: list[Foreign] = field(default_factory=list)
    patch: dict[str, Any] = field(default_factory=dict)  # index settings deploy PUTs (None resets one)

    @property
    def pending(self) -> bool:
        return self.action in PENDING

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass
class Plan:
    changes: list[Change]
    notes: list[str]
    bundle: Bundle | None = None

    @property
    def pending(self) -> list[Change]:
        return [c for c in self.changes if c.pending]

    def to_dict(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for c in self.changes:
            counts[c.action] = counts.get(c.action, 0) + 1
        return {"changes": [asdict(c) for c in self.changes], "notes": self.notes, "counts": counts,
                "pending": len(self.pending)}


def installed_marker(installed: dict[str, Any]) -> dict[str, Any]:
    """Our marker in an installed body: `_meta`, `metadata` or `meta.siem_pack`."""
    for key in ("_meta", "metadata"):
        meta = installed.get(key)
        if isinstance(meta, dict) and "content_hash" in meta:
            return meta
    meta = installed.get("meta")
    if isinstance(meta, dict) and isinstance(meta.get("siem_pack"), dict):
        return dict(meta["siem_pack"])
    return {}


def judge(obj: DeployObject, installed: dict[str, Any] | None, index_settings: dict[str, Any] | None = None) -> Change:
    """`index_settings`: for an index, the settings the bundle gives it (see `index_settings`)."""
    if installed is None:
        return Change(obj.kind, obj.name, "create")
    if obj.kind == "api_key":  # created once, never rewritten
        return Change(obj.kind, obj.name, "unchanged", note=f"{installed.get('count', 1)} active key(s)")
    if obj.kind == "index":  # created once; only its settings are kept in line
        want = {"settings": {**(index_settings or {}), **_flat(obj.body.get("settings") or {})}}
        have = {"settings": _flat(installed.get("settings") or {})}
        changed, foreign = compare(want, have, "index")
        if not changed and not foreign:
            return Change(obj.kind, obj.name, "unchanged")
        patch: dict[str, Any] = {f.path.removeprefix("settings."): None for f in foreign}
        patch |= {k: v for k, v in want["settings"].items() if _text(v) != _text(have["settings"].get(k))}
        return Change(obj.kind, obj.name, "drifted", changed + [_foreign_line(f, "index") for f in foreign],
                      "settings changed by hand", foreign=foreign, patch=patch)
    changed, foreign = compare(strip_marker(obj.body), strip_marker(installed), obj.kind)
    diff = changed + [_foreign_line(f, obj.kind) for f in foreign]
    mark = installed_marker(installed)
    version = mark.get("version")
    if mark.get("content_hash") == obj.hash:
        return Change(obj.kind, obj.name, "drifted" if diff else "unchanged", diff, installed_version=version,
                      foreign=foreign)
    if not mark and not diff and obj.kind in ("saved_object", "exception_list", "data_view"):
        return Change(obj.kind, obj.name, "unchanged")  # no free metadata field: compared by content
    note = "not managed by siem-pack yet" if not mark else "bundle changed"
    return Change(obj.kind, obj.name, "update", diff, note, installed_version=version, foreign=foreign)


def compare(want: Any, have: Any, kind: str) -> tuple[list[str], list[Foreign]]:
    """Where `have` differs from `want`: lines `path: have → want` for what our body sets, and
    the keys `have` adds (Elasticsearch objects only; what the server adds itself excepted)."""
    for where in ((_SETTINGS_AT[kind],) if kind in _SETTINGS_AT else ()):
        want, have = _with_flat_settings(want, where), _with_flat_settings(have, where)
    changed: list[str] = []
    foreign: list[Foreign] = []
    _walk(want, have, "", kind, changed, foreign)
    return changed, foreign


def differences(want: Any, have: Any, path: str = "") -> list[str]:
    """Where `have` differs from `want`, reading only the keys `want` sets (Kibana's way)."""
    changed: list[str] = []
    _walk(want, have, path, "rule", changed, [])
    return changed


def _walk(want: Any, have: Any, path: str, kind: str, changed: list[str], foreign: list[Foreign]) -> None:
    kibana = kind in KIBANA_KINDS
    if isinstance(want, dict):
        if not isinstance(have, dict):
            changed.append(f"{path or '.'}: {_short(have)} → {_short(want)}")
            return
        for k, v in sorted(want.items()):
            if kibana and k in IGNORED:
                continue
            _walk(v, have.get(k), _join(path, k), kind, changed, foreign)
        if not kibana:
            for k in sorted(set(have) - set(want)):
                _foreign(_join(path, k), have[k], kind, foreign)
        return
    if isinstance(want, list):
        pairs = _pairs(want, have, kind) if isinstance(have, list) else None
        if pairs is None:
            changed.append(f"{path}: {_short(have)} → {_short(want)}")
            return
        for i, w in enumerate(want):
            _walk(w, have[pairs[i]], f"{path}[{pairs[i]}]", kind, changed, foreign)
        matched = set(pairs)
        for j, h in enumerate(have if not kibana else ()):
            if j not in matched:
                _foreign(f"{path}[{j}]", h, kind, foreign, leaf=True)
        return
    if _text(want) != _text(have):
        changed.append(f"{path}: {_short(have)} → {_short(want)}")


def _pairs(want: list[Any], have: list[Any], kind: str) -> list[int] | None:
    """Which item of `have` each item of `want` is: the same position when the lengths agree;
    when `have` is longer, `want` in order with extra items between (a hand-added processor,
    privilege or pattern); None when neither."""
    if len(want) == len(have):
        return list(range(len(want)))
    if len(have) < len(want) or kind in KIBANA_KINDS:
        return None
    out: list[int] = []
    j = 0
    for w in want:
        while j < len(have) and differences(w, have[j]):
            j += 1
        if j == len(have):
            return None
        out.append(j)
        j += 1
    return out


def _foreign(path: str, value: Any, kind: str, out: list[Foreign], leaf: bool = False) -> None:
    """Report `value` at `path` unless the server adds it; dicts key by key."""
    if _server_added(kind, path, value):
        return
    if isinstance(value, dict) and value and not leaf:
        for k, v in sorted(value.items()):
            _foreign(_join(path, k), v, kind, out)
        return
    out.append(Foreign(path, _bare(value, path, kind)))


def _bare(value: Any, path: str, kind: str) -> Any:
    """`value` without the keys the server adds inside it (a hand-added role entry carries
    `allow_restricted_indices: false`)."""
    if not isinstance(value, dict):
        return value
    return {k: _bare(v, _join(path, k), kind) for k, v in value.items() if not _server_added(kind, _join(path, k), v)}


def _server_added(kind: str, path: str, value: Any) -> bool:
    generic = re.sub(r"\[\d+\]", "[]", path)
    for pattern, default in SERVER_ADDED.get(kind, {}).items():
        if _matches(pattern, generic) and (default is ANY or _same(default, value)):
            return True
    return False


def _matches(pattern: str, path: str) -> bool:
    rx = "".join(r"[^.\[\]]+" if part == "*" else re.escape(part) for part in re.split(r"(\*)", pattern))
    return re.fullmatch(rx, path) is not None


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, dict | list) or isinstance(b, dict | list):
        return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    return _text(a) == _text(b)


def _foreign_line(f: Foreign, kind: str) -> str:
    what = "deploy resets it to the default" if kind == "index" else "deploy removes it"
    in_settings = f.path.startswith("settings.") or ".settings." in f.path
    value = f.value if in_settings and isinstance(f.value, str) else _short(f.value, 120)  # settings are strings
    return f"+ {f.path} = {value} (not in the bundle; {what})"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _with_flat_settings(body: Any, where: tuple[str, ...]) -> Any:
    """`body` with the settings at `where` + ("settings",) flattened to `index.*` keys."""
    if not isinstance(body, dict):
        return body
    if where:
        inner = body.get(where[0])
        return {**body, where[0]: _with_flat_settings(inner, where[1:])} if isinstance(inner, dict) else body
    settings = body.get("settings")
    return {**body, "settings": _flat(settings)} if isinstance(settings, dict) else body


def _flat(settings: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Index settings as Elasticsearch reads them: `{"index": {"number_of_replicas": "2"}}`,
    `{"number_of_replicas": 2}` and `{"index.number_of_replicas": "2"}` are one key."""
    out: dict[str, Any] = {}
    for k, v in settings.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flat(v, f"{key}."))
        else:
            out[key if key.startswith("index.") else f"index.{key}"] = v
    return out


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    return "" if v is None else str(v)


def _short(v: Any, width: int = 60) -> str:
    text = json.dumps(v, sort_keys=True, default=str)
    return text if len(text) <= width else text[:width - 3] + "..."


def index_settings(bundle: Bundle, index: str) -> dict[str, Any]:
    """The settings our templates give `index`: the highest-priority index template of the
    bundle whose patterns match it, over its component templates (flattened)."""
    templates = [o for o in bundle.by_kind("index_template")
                 if any(fnmatchcase(index, p) for p in o.body.get("index_patterns", []))]
    if not templates:
        return {}
    best = max(templates, key=lambda o: int(o.body.get("priority", 0)))
    components = {o.name: o.body for o in bundle.by_kind("component_template")}
    out: dict[str, Any] = {}
    for body in [components.get(n, {}) for n in best.body.get("composed_of", [])] + [best.body]:
        out |= _flat((body.get("template") or {}).get("settings") or {})
    return out


def plan(bundle: Bundle, client: Elasticsearch, kibana: KibanaClient | None) -> Plan:
    changes = []
    for obj in bundle.objects:
        if obj.system == "kibana" and kibana is None:
            continue
        settings = index_settings(bundle, obj.name) if obj.kind == "index" else None
        changes.append(judge(obj, read(client, obj, kibana), settings))
    notes = list(bundle.notes)
    if kibana is None and any(o.system == "kibana" for o in bundle.objects):
        notes.append("no --kibana-url: Kibana objects (data view, dashboards, rules, exceptions) are not planned")
    return Plan(changes, notes, bundle)


def uninstall_plan(p: Plan, client: Elasticsearch, prefix: str = "", delete_data: bool = False
                   ) -> tuple[list[Change], list[str]]:
    """What `uninstall` removes, in order (reverse of deploy), and notes on what it keeps.

    Bundle objects that are installed and ours (Elasticsearch objects without our marker are
    left alone); with `delete_data`, every data index and data stream the pack owns
    (`state.data_targets`: events of any namespace, alerts, seals, approvals, ...)."""
    steps: list[Change] = []
    notes: list[str] = []
    for c in p.changes:
        if c.action == "create" or c.kind == "index":
            continue
        if c.kind not in KIBANA_KINDS and c.note == "not managed by siem-pack yet":
            notes.append(f"left {c.key}: it carries no siem-pack marker (not ours)")
            continue
        steps.append(Change(c.kind, c.name, "delete"))
    data = data_targets(client, prefix)
    if delete_data:
        steps += [Change(kind, name, "delete") for kind, name in data]
    elif data:
        names = [name for _, name in data]
        notes.append(f"kept {len(names)} data index(es)/data stream(s): {', '.join(names[:6])}"
                     f"{', ...' if len(names) > 6 else ''} (pass --delete-data to remove them)")
    steps.sort(key=lambda c: -ORDER.index(c.kind))
    return steps, notes


def render_change(c: Change, width: int = 0, action: str | None = None) -> list[str]:
    """One change: its line, then its diff lines (every foreign key; at most 12 others)."""
    lines = [f"  {action or c.action:<9}  {c.key.ljust(width)}  {c.note}".rstrip()]
    others = [d for d in c.diff if not d.startswith("+ ")]
    shown = [*others[:12], *(d for d in c.diff if d.startswith("+ "))]
    lines += [f"  {'':<9}    {d}" for d in shown]
    if len(others) > 12:
        lines.append(f"  {'':<9}    ... {len(others) - 12} more (--json lists all)")
    return lines


def render(p: Plan) -> str:
    lines = []
    width = max((len(c.key) for c in p.changes), default=10)
    for c in p.changes:
        lines += render_change(c, width)
    counts = p.to_dict()["counts"]
    summary = ", ".join(f"{n} {a}" for a, n in sorted(counts.items()))
    lines.append(f"\n{len(p.pending)} change(s) pending ({summary or 'nothing'})")
    for n in p.notes:
        lines.append(f"note: {n}")
    return "\n".join(lines)
