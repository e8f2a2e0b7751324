"""Compare the bundle with the cluster: per object create, update (with a short diff),
unchanged, or drifted (changed by hand since we deployed it). Returns data; prints nothing.

How an object is judged, from its installed body and our marker in it:
- absent → `create`;
- marker hash equals the bundle's and the installed body still matches the bundle → `unchanged`;
- marker hash equals the bundle's but the installed body differs → `drifted` (a hand edit);
- marker hash differs (a newer bundle) or no marker (not ours yet) → `update`.
The comparison reads only the keys our body sets (servers add defaults) and compares
scalars as text (Elasticsearch returns settings as strings).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from elasticsearch import Elasticsearch

from ..templates import strip_marker
from .bundle import Bundle, DeployObject
from .kibana import KibanaClient
from .state import read

Action = Literal["create", "update", "unchanged", "drifted", "delete"]
PENDING = ("create", "update", "drifted", "delete")
# keys analysts may change in Kibana without it being drift
IGNORED = {"enabled", "id", "created_at", "updated_at", "created_by", "updated_by", "revision", "execution_summary"}


@dataclass
class Change:
    kind: str
    name: str
    action: Action
    diff: list[str] = field(default_factory=list)
    note: str = ""
    installed_version: str | None = None

    @property
    def pending(self) -> bool:
        return self.action in PENDING


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


def judge(obj: DeployObject, installed: dict[str, Any] | None) -> Change:
    if installed is None:
        return Change(obj.kind, obj.name, "create")
    if obj.kind in ("index", "api_key"):  # created once, never rewritten
        note = f"{installed.get('count', 1)} active key(s)" if obj.kind == "api_key" else ""
        return Change(obj.kind, obj.name, "unchanged", note=note)
    diff = differences(strip_marker(obj.body), strip_marker(installed))
    mark = installed_marker(installed)
    version = mark.get("version")
    if mark.get("content_hash") == obj.hash:
        return Change(obj.kind, obj.name, "drifted" if diff else "unchanged", diff[:8], installed_version=version)
    if not mark and not diff and obj.kind in ("saved_object", "exception_list", "data_view"):
        return Change(obj.kind, obj.name, "unchanged")  # no free metadata field: compared by content
    note = "not managed by siem-pack yet" if not mark else "bundle changed"
    return Change(obj.kind, obj.name, "update", diff[:8], note, installed_version=version)


def differences(want: Any, have: Any, path: str = "") -> list[str]:
    """Where `have` differs from `want`, reading only the keys `want` sets."""
    if isinstance(want, dict):
        if not isinstance(have, dict):
            return [f"{path or '.'}: {_short(have)} → {_short(want)}"]
        out: list[str] = []
        for k, v in sorted(want.items()):
            if k in IGNORED:
                continue
            out += differences(v, have.get(k), f"{path}.{k}" if path else k)
        return out
    if isinstance(want, list):
        if not isinstance(have, list) or len(want) != len(have):
            return [f"{path}: {_short(have)} → {_short(want)}"]
        return [d for i, (w, h) in enumerate(zip(want, have, strict=True)) for d in differences(w, h, f"{path}[{i}]")]
    if _text(want) != _text(have):
        return [f"{path}: {_short(have)} → {_short(want)}"]
    return []


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    return "" if v is None else str(v)


def _short(v: Any) -> str:
    text = json.dumps(v, sort_keys=True, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def plan(bundle: Bundle, client: Elasticsearch, kibana: KibanaClient | None) -> Plan:
    changes = []
    for obj in bundle.objects:
        if obj.system == "kibana" and kibana is None:
            continue
        changes.append(judge(obj, read(client, obj, kibana)))
    notes = list(bundle.notes)
    if kibana is None and any(o.system == "kibana" for o in bundle.objects):
        notes.append("no --kibana-url: Kibana objects (data view, dashboards, rules, exceptions) are not planned")
    return Plan(changes, notes, bundle)


def render(p: Plan) -> str:
    lines = []
    width = max((len(f"{c.kind}/{c.name}") for c in p.changes), default=10)
    for c in p.changes:
        lines.append(f"  {c.action:<9}  {(c.kind + '/' + c.name).ljust(width)}  {c.note}".rstrip())
        for d in c.diff:
            lines.append(f"  {'':<9}    {d}")
    counts = p.to_dict()["counts"]
    summary = ", ".join(f"{n} {a}" for a, n in sorted(counts.items()))
    lines.append(f"\n{len(p.pending)} change(s) pending ({summary or 'nothing'})")
    for n in p.notes:
        lines.append(f"note: {n}")
    return "\n".join(lines)
