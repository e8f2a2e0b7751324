"""Cross-cutting (deploy): the only writer of deploy: applies a plan's pending changes in
dependency order, removes what we own (uninstall), and rotates job keys.

A failure midway raises `DeployError` naming what was applied and what was not; running
deploy again completes the job (every step is an idempotent PUT-by-id, a create-if-absent,
or an import with overwrite).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from elasticsearch import ApiError, Elasticsearch

from ..errors import ConfigError, SiemPackError
from ..templates import MANAGED_BY, Step, put_step
from .bundle import KIBANA_KINDS, ORDER, DeployObject, JobRole, key_name, load_roles, role_body, role_name
from .kibana import KibanaClient
from .plan import Change, Plan
from .state import our_api_keys


class DeployError(SiemPackError):
    """Deploy stopped midway; `applied` and `remaining` say where."""


@dataclass
class ApplyResult:
    applied: list[Change] = field(default_factory=list)
    keys_written: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"applied": [f"{c.action} {c.kind}/{c.name}" for c in self.applied],
                "diff": {c.key: c.diff for c in self.applied if c.diff},
                "keys_written": self.keys_written, "notes": self.notes}


@dataclass(frozen=True)
class _Target:
    """Where apply writes: the cluster, Kibana (when given), the folder for job keys, the result."""

    client: Elasticsearch
    kibana: KibanaClient | None
    keys_dir: Path | None
    result: ApplyResult


def _apply_api_key(t: _Target, change: Change, obj: DeployObject) -> bool:
    if t.keys_dir is None:
        t.result.notes.append(f"api_key/{obj.name} not created: pass --keys-dir DIR to receive job keys")
        return False
    t.result.keys_written.append(str(_create_key(t.client, obj, t.keys_dir)))
    return True


def _apply_data_view(t: _Target, change: Change, obj: DeployObject) -> bool:
    _need(t.kibana).put_data_view(obj.body)
    return True


def _apply_index(t: _Target, change: Change, obj: DeployObject) -> bool:
    """A drifted index's settings put back, or a new index created."""
    return _reset_settings(t.client, change, t.result) if change.patch else _apply_es(t, change, obj)


def _apply_es(t: _Target, change: Change, obj: DeployObject) -> bool:
    _put_es(t.client, obj)
    return True


# The registry: an object's kind → how one change of it is applied (True: applied); kinds not
# listed are PUT to Elasticsearch (_put_es); BATCHED kinds are imported together at the end.
APPLIERS: dict[str, Callable[[_Target, Change, DeployObject], bool]] = {
    "api_key": _apply_api_key,
    "data_view": _apply_data_view,
    "index": _apply_index,
}
BATCHED = ("saved_object", "rule", "exception_list")


def apply(p: Plan, client: Elasticsearch, kibana: KibanaClient | None, keys_dir: Path | None = None) -> ApplyResult:
    assert p.bundle is not None, "apply needs a plan made from a bundle"
    objects = {o.key: o for o in p.bundle.objects}
    pending = [c for c in p.changes if c.pending]
    result = ApplyResult(notes=list(p.notes))
    target = _Target(client, kibana, keys_dir, result)
    batches: dict[str, list[DeployObject]] = {kind: [] for kind in BATCHED}
    for change in sorted(pending, key=lambda c: ORDER.index(c.kind)):
        obj = objects[f"{change.kind}/{change.name}"]
        try:
            if obj.kind in batches:
                batches[obj.kind].append(obj)
            elif APPLIERS.get(obj.kind, _apply_es)(target, change, obj):
                result.applied.append(change)
        except (ApiError, SiemPackError) as exc:
            _stopped(result, change, pending, exc)
    if kibana is not None:
        _import_batches(kibana, batches, pending, result)
    return result


def _import_batches(kibana: KibanaClient, batches: dict[str, list[DeployObject]], pending: list[Change],
                    result: ApplyResult) -> None:
    """Saved objects in one import, then exception lists and rules in another."""
    saved = batches["saved_object"]
    if saved:
        kibana.import_saved_objects(_ndjson(o.body for o in saved))
        result.applied += [c for c in pending if c.kind == "saved_object"]
    rules = batches["rule"] + batches["exception_list"]
    if rules:
        lines = [o.body for o in batches["exception_list"]] + [o.body for o in batches["rule"]]
        kibana.import_rules(_ndjson(lines))
        result.applied += [c for c in pending if c.kind in ("rule", "exception_list")]


def _stopped(result: ApplyResult, change: Change, pending: list[Change], exc: Exception) -> None:
    done = {id(c) for c in result.applied}
    remaining = [f"{c.kind}/{c.name}" for c in pending if id(c) not in done]
    msg = exc.message if isinstance(exc, SiemPackError) else str(getattr(exc, "message", exc))
    raise DeployError(f"stopped at {change.kind}/{change.name}: {msg}; applied {len(result.applied)}, "
                      f"not applied {len(remaining)} ({', '.join(remaining[:5])}{'...' if len(remaining) > 5 else ''}); "
                      "run deploy again to complete") from exc


def _need(kibana: KibanaClient | None) -> KibanaClient:
    if kibana is None:
        raise ConfigError("Kibana objects need --kibana-url", where="--kibana-url")
    return kibana


def _ndjson(bodies: Any) -> bytes:
    return "".join(json.dumps(b, sort_keys=True) + "\n" for b in bodies).encode()


def _reset_settings(client: Elasticsearch, change: Change, result: ApplyResult) -> bool:
    """Put a drifted index's settings back (a foreign one reset to its default). A static
    setting cannot change on an open index: noted, kept, and still drift in the next plan."""
    try:
        client.indices.put_settings(index=change.name, settings=change.patch)
    except ApiError as exc:
        if exc.meta.status != 400:
            raise
        result.notes.append(f"kept the settings of index/{change.name}: {getattr(exc, 'message', exc)} "
                            "(a static setting: close the index to change it, or reindex)")
        return False
    return True


def _put_es(client: Elasticsearch, obj: DeployObject) -> None:
    if obj.kind == "ingest_pipeline":
        client.ingest.put_pipeline(id=obj.name, body=obj.body)
    elif obj.kind == "role":
        client.security.put_role(name=obj.name, body=obj.body)
    elif obj.kind in ("component_template", "index_template", "ilm_policy", "index"):
        put_step(client, Step(obj.kind, obj.name, obj.body))  # the templates' own writer
    else:
        raise ValueError(obj.kind)


def _create_key(client: Elasticsearch, obj: DeployObject, keys_dir: Path) -> Path:
    job = obj.body["metadata"]["job"]
    role = next(r for r in load_roles() if r.job == job)
    prefix = obj.name[: -len(key_name(job))]
    return write_key(client, role, prefix, keys_dir)


def write_key(client: Elasticsearch, role: JobRole, prefix: str, keys_dir: Path) -> Path:
    """Create an API key for a job's role and write its encoded secret to `<keys_dir>/<job>.key`
    (mode 0600). The secret is never printed."""
    body = role_body(role, prefix)
    descriptor = {role_name(role.job, prefix): {k: body[k] for k in ("cluster", "indices")}}
    res = client.security.create_api_key(name=key_name(role.job, prefix), role_descriptors=descriptor,
                                         metadata={"managed_by": MANAGED_BY, "job": role.job}).body
    keys_dir.mkdir(parents=True, exist_ok=True)
    path = keys_dir / f"{role.job}.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(res["encoded"] + "\n")
    os.chmod(path, 0o600)
    return path


def rotate_key(client: Elasticsearch, job: str, keys_dir: Path, prefix: str = "") -> dict[str, Any]:
    """Create a new key for `job`, write it, then invalidate the job's older keys."""
    roles = {r.job: r for r in load_roles()}
    if job not in roles:
        raise ConfigError(f"unknown job {job!r}; known: {', '.join(sorted(roles))}", where="JOB")
    old = [k["id"] for k in our_api_keys(client, key_name(job, prefix))]
    path = write_key(client, roles[job], prefix, keys_dir)
    if old:
        client.security.invalidate_api_key(ids=old)
    return {"job": job, "key_file": str(path), "invalidated": len(old)}


def uninstall(steps: list[Change], notes: list[str], client: Elasticsearch, kibana: KibanaClient | None
              ) -> ApplyResult:
    """Remove what `plan.uninstall_plan` listed, in its order (reverse of deploy). An index
    template that data streams still use (kept data) is left, with a note."""
    result = ApplyResult(notes=list(notes))
    for step in steps:
        try:
            _delete(client, kibana, step.kind, step.name)
        except ApiError as exc:
            if exc.meta.status == 404:
                pass
            elif step.kind == "index_template" and exc.meta.status == 400 and "data stream" in str(exc.body):
                result.notes.append(f"kept index_template/{step.name}: data streams use it (pass --delete-data)")
                continue
            else:
                raise
        result.applied.append(step)
    return result


def _delete(client: Elasticsearch, kibana: KibanaClient | None, kind: str, name: str) -> None:
    if kind in KIBANA_KINDS:
        if kibana is not None:
            kibana.delete(kind, name)
    elif kind == "component_template":
        client.cluster.delete_component_template(name=name)
    elif kind == "index_template":
        client.indices.delete_index_template(name=name)
    elif kind == "ilm_policy":
        client.ilm.delete_lifecycle(name=name)
    elif kind == "ingest_pipeline":
        client.ingest.delete_pipeline(id=name)
    elif kind == "role":
        client.security.delete_role(name=name)
    elif kind == "api_key":
        ids = [k["id"] for k in our_api_keys(client, name)]
        if ids:
            client.security.invalidate_api_key(ids=ids)
    elif kind == "index":
        client.indices.delete(index=name)  # by its exact name: its aliases go with it
    elif kind == "data_stream":
        client.indices.delete_data_stream(name=name)
