"""The inventory (inventory/) and its compiled pipeline `siem_pack-inventory`.

One case per inventory file (id = file name): every model name marks the tier, every alias
of an identity resolves to its canonical id, every grant opens and closes at its dates.
The pipeline's verdict equals `Inventory.verdict()` on every fixture event; the kept copy of
the generated pipeline is current; a broken inventory reports all its problems at once; and
on the real OpenSearch node the dated-grant comparisons give the same verdicts.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sample_cases import LAYERS, layer_records

from siem_pack.doc import flatten, unflatten
from siem_pack.errors import ContentError, ContentErrors
from siem_pack.ingest.formats import ENTRY_PIPELINE
from siem_pack.ingest.pipeline import PipelineSet, load_pipelines, pipelines_from_bodies
from siem_pack.ingest.secrets import render_yaml
from siem_pack.inventory import (
    KEY_FIELDS,
    PIPELINE_ID,
    Inventory,
    compile_pipeline,
    iso_utc,
    load_inventory,
    pipeline_file,
)
from siem_pack.paths import content_dir

INVENTORY = load_inventory()
ROOT = content_dir("inventory")
MODEL_FILES = sorted((ROOT / "models").glob("*.yml"))
IDENTITY_FILES = sorted((ROOT / "identities").glob("*.yml"))
GRANT_FILES = sorted((ROOT / "grants").glob("*.yml"))


@pytest.fixture(scope="module")
def inventory_only() -> PipelineSet:
    return pipelines_from_bodies({PIPELINE_ID: compile_pipeline(INVENTORY)})


def _event(ts: str, model: str | None = None, **fields: str) -> dict[str, Any]:
    flat: dict[str, Any] = {"@timestamp": ts, "siem_pack.format": "openai_compatible", **fields}
    if model:
        flat["gen_ai.request.model"] = model
    return unflatten(flat)


def _enrich(ps: PipelineSet, doc: dict[str, Any]) -> dict[str, Any]:
    out = ps.executor.run(PIPELINE_ID, doc)
    assert out.error is None, out.error
    return flatten(out.doc)


def test_kept_copy_is_current() -> None:
    assert pipeline_file().read_text() == render_yaml(compile_pipeline(INVENTORY)), (
        "ingest_pipelines/siem_pack-inventory.yml is stale: run `python -m siem_pack.inventory`")


def test_inventory_is_small_but_whole() -> None:
    assert len(INVENTORY.models) >= 10 and len(INVENTORY.identities) >= 10 and INVENTORY.grants
    assert {i.type for i in INVENTORY.identities} == {"human", "service"}
    assert {g.kind for g in INVENTORY.grants} == {"grant", "approval"}
    assert dict(INVENTORY.level_by_tier).keys() >= {"public", "internal", "confidential", "restricted", "unknown"}


@pytest.mark.parametrize("path", MODEL_FILES, ids=[p.name for p in MODEL_FILES])
def test_model_names_mark_the_tier(inventory_only: PipelineSet, path: Path) -> None:
    model = next(m for m in INVENTORY.models if m.id == path.stem)
    for name in model.names:
        doc = _enrich(inventory_only, _event("2025-01-01T00:00:00.000Z", name))
        assert doc["siem_pack.model.id"] == model.id
        assert doc["siem_pack.model.tier"] == model.tier
        assert doc["siem_pack.model.owner"] == model.owner
        assert doc["siem_pack.model.environment"] == model.environment


@pytest.mark.parametrize("path", IDENTITY_FILES, ids=[p.name for p in IDENTITY_FILES])
def test_every_alias_resolves_to_one_identity(inventory_only: PipelineSet, path: Path) -> None:
    ident = next(i for i in INVENTORY.identities if i.id == path.stem)
    assert ident.aliases, f"{path}: no aliases"
    for kind, alias in ident.aliases:
        field = KEY_FIELDS.get(kind, "user.id")
        doc = _enrich(inventory_only, _event("2025-01-01T00:00:00.000Z", **{field: alias}))
        assert doc["user.id"] == ident.id, f"{kind} {alias!r} resolved to {doc.get('user.id')!r}"
        assert doc["siem_pack.identity.type"] == ident.type
        assert doc.get("user.group.name") == list(ident.groups)


def test_the_first_field_holding_an_alias_decides(inventory_only: PipelineSet) -> None:
    """user.id, then user.email, then user.name, then the key (alias, id, hash): whatever the
    order of the identities; the pipeline and `Inventory.resolve` agree."""
    human = [i for i in INVENTORY.identities if i.type == "human" and len(i.user_aliases()) > 1]
    first, second = human[-1], human[0]  # the later identity in the id order comes first here
    key_owner = next(i for i in INVENTORY.identities if i.key_aliases("key_alias"))
    key = key_owner.key_aliases("key_alias")[0]
    cases = [
        ({"user.id": first.user_aliases()[1], "user.email": second.user_aliases()[1]}, first),
        ({"user.email": first.user_aliases()[1], "user.name": second.user_aliases()[1]}, first),
        ({"user.id": "not-inventoried", "user.name": second.user_aliases()[1],
          "siem_pack.api_key.alias": key}, second),
        ({"user.id": "not-inventoried", "siem_pack.api_key.alias": key}, key_owner),
    ]
    for fields, want in cases:
        doc = _enrich(inventory_only, _event("2025-01-01T00:00:00.000Z", **fields))
        assert doc["user.id"] == want.id, (fields, doc.get("user.id"))
        users = [fields.get(f) for f in ("user.id", "user.email", "user.name")]
        keys = {"key_alias": fields.get("siem_pack.api_key.alias")}
        resolved = INVENTORY.resolve(users, keys)
        assert resolved is not None and resolved.id == want.id


@pytest.mark.parametrize("path", GRANT_FILES, ids=[p.name for p in GRANT_FILES])
def test_grant_opens_and_closes_at_its_dates(inventory_only: PipelineSet, path: Path) -> None:
    grant = next(g for g in INVENTORY.grants if g.id == path.stem)
    checked = 0
    for model_id in grant.models:
        model = next(m for m in INVENTORY.models if m.id == model_id)
        for ident in INVENTORY.identities:
            if grant not in INVENTORY.grants_for(model, ident):
                continue
            if ident in INVENTORY.allowed_identities(model):
                continue  # allowed anyway: the grant changes nothing
            last_ms = iso_utc(datetime.fromisoformat(grant.expiry.replace("Z", "+00:00")) - timedelta(milliseconds=1))
            cases = {grant.start: "compliant", last_ms: "compliant", grant.expiry: "noncompliant",
                     "2000-01-01T00:00:00.000Z": "noncompliant"}
            for ts, want in cases.items():
                doc = _enrich(inventory_only, _event(ts, model.names[0], **{"user.id": ident.id}))
                assert doc["siem_pack.policy.verdict"] == want, (ts, ident.id, doc.get("siem_pack.policy.reason"))
                assert (doc["siem_pack.policy.verdict"], doc["siem_pack.policy.reason"]) == INVENTORY.verdict(
                    model, INVENTORY.identity(ident.id), ts)
            checked += 1
    for action in grant.actions:
        for ident in INVENTORY.identities:
            if not (ident.id in grant.identities or set(ident.groups) & set(grant.groups)):
                continue
            last_ms = iso_utc(datetime.fromisoformat(grant.expiry.replace("Z", "+00:00")) - timedelta(milliseconds=1))
            for ts, want in ((grant.start, "approved"), (last_ms, "approved"), (grant.expiry, "expired"),
                             ("2000-01-01T00:00:00.000Z", "missing")):
                doc = _enrich(inventory_only, _event(ts, **{"user.id": ident.id, "event.action": action}))
                assert doc["siem_pack.approval.status"] == want, (ts, ident.id, action)
                assert doc.get("siem_pack.approval.id") == (None if want == "missing" else grant.id)
            checked += 1
    assert checked, f"{path}: the grant covers nobody who needs it"


def _sample_events(pipelines: PipelineSet, layer: str, request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    """Every record of the layer's samples (ours, or upstream), normalized with its format's hint."""
    docs = []
    for fmt, _, text in layer_records(layer, request):
        out = pipelines.executor.run(ENTRY_PIPELINE, {"message": text, "siem_pack": {"format": fmt.name}})
        assert out.error is None, out.error
        docs.append(flatten(out.doc))
    return docs


@pytest.mark.parametrize("layer", LAYERS)
def test_pipeline_verdict_equals_python_rule(pipelines: PipelineSet, layer: str, request: pytest.FixtureRequest) -> None:
    verdicts = set()
    for doc in _sample_events(pipelines, layer, request):
        model_name = doc.get("gen_ai.request.model")
        ident = INVENTORY.identity(doc.get("user.id", ""))
        if model_name is None:
            want = ("unknown", "no model in event")
        else:
            want = INVENTORY.verdict(INVENTORY.model_for(model_name), ident, doc["@timestamp"])
        assert (doc["siem_pack.policy.verdict"], doc["siem_pack.policy.reason"]) == want, json.dumps(doc)[:400]
        assert (doc["siem_pack.approval.status"], doc.get("siem_pack.approval.id")) == INVENTORY.approval(
            ident, doc.get("event.action"), doc["@timestamp"])
        assert doc.get("siem_pack.user.off_hours") == INVENTORY.off_hours(ident, doc["@timestamp"])
        if ident is not None:  # the canonical id, with every raw id kept
            assert doc["siem_pack.attribution"] == "attributed"
        verdicts.add(want[0])
    assert verdicts == {"compliant", "noncompliant", "unknown"}


def test_working_hours_in_the_identitys_time_zone(inventory_only: PipelineSet) -> None:
    """jdoe works 08:00-18:00 in New York: 21:30 UTC in April is 17:30 there, 22:30 UTC is 18:30."""
    on = _enrich(inventory_only, _event("2024-04-18T21:30:00.000Z", **{"user.id": "jdoe"}))
    off = _enrich(inventory_only, _event("2024-04-18T22:30:00.000Z", **{"user.id": "jdoe"}))
    assert on["siem_pack.user.off_hours"] is False and off["siem_pack.user.off_hours"] is True
    svc = _enrich(inventory_only, _event("2024-04-18T03:00:00.000Z", **{"user.id": "svc-support-bot"}))
    assert "siem_pack.user.off_hours" not in svc  # services have no working hours


@pytest.mark.parametrize("layer", LAYERS)
def test_privileged_actions_need_an_approval(pipelines: PipelineSet, layer: str, request: pytest.FixtureRequest) -> None:
    statuses = {d["siem_pack.approval.status"] for d in _sample_events(pipelines, layer, request)}
    assert statuses == {"approved", "expired", "missing", "not_required"}


@pytest.mark.parametrize("layer", LAYERS)
def test_one_person_behind_several_sources(pipelines: PipelineSet, layer: str, request: pytest.FixtureRequest) -> None:
    """jdoe is an IAM ARN in Bedrock and an Entra object id in Azure: one user.id."""
    by_user: dict[str, set[str]] = {}
    for doc in _sample_events(pipelines, layer, request):
        if "user.id" in doc:
            by_user.setdefault(doc["user.id"], set()).add(doc["siem_pack.format"])
    assert {"bedrock_invocation", "azure_openai"} <= by_user["jdoe"]


def test_broken_inventory_reports_every_problem(tmp_path: Path) -> None:
    shutil.copytree(ROOT, tmp_path / "inv")
    inv = tmp_path / "inv"
    (inv / "models" / "gpt-4o.yml").write_text(
        (inv / "models" / "gpt-4o.yml").read_text().replace("tier: confidential", "tier: secret"))
    (inv / "identities" / "jdoe.yml").write_text(
        (inv / "identities" / "jdoe.yml").read_text().replace("time_zone: America/New_York", "time_zone: Mars/Olympus"))
    grant = yaml.safe_load((inv / "grants" / "grant-2025-apps-gpt-4o.yml").read_text())
    grant.update(models=["no-such-model"], expiry="2024-01-01T00:00:00Z")
    (inv / "grants" / "grant-2025-apps-gpt-4o.yml").write_text(yaml.safe_dump(grant))
    (inv / "identities" / "copycat.yml").write_text(yaml.safe_dump({
        "id": "copycat", "name": "C", "type": "human", "groups": [], "time_zone": "UTC",
        "aliases": {"email": ["john.doe@example.com"]}}))
    (inv / "identities" / "shadow.yml").write_text(yaml.safe_dump({  # another's id as an alias
        "id": "shadow", "name": "S", "type": "human", "groups": [], "time_zone": "UTC",
        "aliases": {"gateway_user": ["amartin"]}}))
    with pytest.raises(ContentErrors) as err:
        load_inventory(inv)
    text = str(err.value)
    for needle in ("tier 'secret'", "Mars/Olympus", "unknown model 'no-such-model'", "is not before expiry",
                   "also belongs to copycat", "alias 'amartin' also belongs to"):
        assert needle in text, text
    assert all(str(inv) in str(p) for p in err.value.problems)


def test_missing_inventory_folder(tmp_path: Path) -> None:
    with pytest.raises(ContentError, match="inventory folder not found"):
        load_inventory(tmp_path / "nope")


def test_inventory_dir_overrides_the_default(tmp_path: Path) -> None:
    shutil.copytree(ROOT, tmp_path / "inv")
    (tmp_path / "inv" / "models" / "cohere-command.yml").write_text(
        (tmp_path / "inv" / "models" / "cohere-command.yml").read_text().replace("tier: public", "tier: restricted"))
    custom = load_pipelines(inventory_dir=tmp_path / "inv")
    doc = _enrich(custom, _event("2025-01-01T00:00:00.000Z", "command"))
    assert doc["siem_pack.model.tier"] == "restricted"


# ---- the same verdicts on the real OpenSearch node --------------------------------------------
@pytest.mark.opensearch
def test_grant_dates_on_opensearch(opensearch: Any, inventory_only: PipelineSet) -> None:
    opensearch.request("PUT", "/_cluster/settings", {"persistent": {
        "script.context.template.max_compilations_rate": "100000/1m",
        "script.context.processor_conditional.max_compilations_rate": "100000/1m"}})
    docs = []
    for g in INVENTORY.grants:
        for ts in (g.start, g.expiry, "2000-01-01T00:00:00.000Z"):
            for ident in INVENTORY.identities:
                for model_id in g.models:
                    model = next(m for m in INVENTORY.models if m.id == model_id)
                    docs.append(_event(ts, model.names[0], **{"user.id": ident.id}))
    remote = opensearch.simulate(compile_pipeline(INVENTORY), docs)["docs"]
    for doc, entry in zip(docs, remote, strict=True):
        assert "error" not in entry, entry
        local = inventory_only.executor.run(PIPELINE_ID, doc).doc
        assert entry["doc"]["_source"] == local


def test_inventory_type_is_frozen() -> None:
    with pytest.raises(AttributeError):
        INVENTORY.models = ()  # type: ignore[misc]
    assert isinstance(INVENTORY, Inventory)


# ---- role sessions and home countries -----------------------------------------------------------
ROLE_ARN = "arn:aws:iam::111122223333:role/nightly-summarizer"


def _role_inventory(tmp_path: Path) -> Path:
    """The bundle's inventory plus a service role (iam_role alias) and a person with home countries."""
    inv = tmp_path / "inv"
    shutil.copytree(ROOT, inv)
    (inv / "identities" / "svc-nightly.yml").write_text(yaml.safe_dump({
        "id": "svc-nightly", "name": "Nightly summarizer", "type": "service", "groups": ["data-science"],
        "time_zone": "UTC", "aliases": {"iam_role": [ROLE_ARN]}}))
    (inv / "identities" / "kaito.yml").write_text(yaml.safe_dump({
        "id": "kaito", "name": "Kaito Ito", "type": "human", "email": "kaito@example.com", "groups": ["research"],
        "time_zone": "Asia/Tokyo", "countries": ["JP", "AU"], "aliases": {"email": ["kaito@example.com"]}}))
    return inv


def _role_docs() -> list[dict[str, Any]]:
    """Bedrock callers after the format pipeline's ARN grok (user.id the raw ARN)."""
    def bedrock(arn: str, **more: Any) -> dict[str, Any]:
        return _event("2026-03-02T02:05:00.000Z", "anthropic.claude-3-haiku-20240307-v1:0",
                      **{"user.id": arn, "siem_pack.raw.identity.arn": arn, **more})
    return [
        bedrock("arn:aws:sts::111122223333:assumed-role/nightly-summarizer/botocore-session-1772416800"),
        bedrock("arn:aws:sts::111122223333:assumed-role/nightly-summarizer/botocore-session-1772503200"),
        bedrock("arn:aws:sts::999999999999:assumed-role/nightly-summarizer/botocore-session-1"),  # another account
        bedrock("arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Research/kaito@example.com",
                **{"source.geo.country_iso_code": "AU"}),
        bedrock("arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Research/kaito@example.com",
                **{"source.geo.country_iso_code": "SG"}),
    ]


def _role_pipeline(inv: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Bedrock pipeline's ARN steps, then the inventory pipeline."""
    bedrock = yaml.safe_load((content_dir("ingest_pipelines") / "siem_pack-bedrock_invocation.yml").read_text())
    steps = [p for p in bedrock["processors"] if next(iter(p.values())).get("tag") in ("bedrock-arn", "bedrock-role-arn")]
    assert len(steps) == 2
    return {"processors": [*steps, {"pipeline": {"name": PIPELINE_ID}}]}, compile_pipeline(load_inventory(inv))


def test_a_roles_sessions_are_one_identity_and_home_countries_are_marked(tmp_path: Path) -> None:
    folder = _role_inventory(tmp_path)
    head, inventory = _role_pipeline(folder)
    ps = pipelines_from_bodies({"t-role": head, PIPELINE_ID: inventory})
    out = []
    for doc in _role_docs():
        res = ps.executor.run("t-role", doc)
        assert res.error is None, res.error
        out.append(flatten(res.doc))
    assert [d.get("user.id") for d in out] == [
        "svc-nightly", "svc-nightly", "arn:aws:sts::999999999999:assumed-role/nightly-summarizer/botocore-session-1",
        "kaito", "kaito"]
    assert out[0]["siem_pack.identity.type"] == "service"
    assert out[2]["siem_pack.identity.type"] == "unknown"  # the role of another account is not ours
    assert [d.get("siem_pack.user.home_country") for d in out[3:]] == [True, None]
    inv = load_inventory(folder)
    assert inv.resolve(["arn:aws:sts::111122223333:assumed-role/nightly-summarizer/x"],
                       {"iam_role": ROLE_ARN}).id == "svc-nightly"  # type: ignore[union-attr]


def test_bad_home_country_is_reported(tmp_path: Path) -> None:
    inv = _role_inventory(tmp_path)
    (inv / "identities" / "kaito.yml").write_text((inv / "identities" / "kaito.yml").read_text().replace("- AU", "- Australia"))
    with pytest.raises(ContentError) as exc:  # one problem: raised alone
        load_inventory(inv)
    assert "kaito.yml: countries: 'Australia' is not an ISO 3166 alpha-2 code (e.g. DE, US)" in str(exc.value)


@pytest.mark.opensearch
def test_role_sessions_and_home_countries_on_opensearch(opensearch: Any, tmp_path: Path) -> None:
    head, inventory = _role_pipeline(_role_inventory(tmp_path))
    opensearch.request("PUT", f"/_ingest/pipeline/{PIPELINE_ID}-t", inventory)
    remote_head = json.loads(json.dumps(head).replace(f'"name": "{PIPELINE_ID}"', f'"name": "{PIPELINE_ID}-t"'))
    docs = _role_docs()
    remote = opensearch.simulate(remote_head, docs)["docs"]
    ps = pipelines_from_bodies({"t-role": head, PIPELINE_ID: inventory})
    for doc, entry in zip(docs, remote, strict=True):
        assert "error" not in entry, entry
        assert entry["doc"]["_source"] == ps.executor.run("t-role", doc).doc
