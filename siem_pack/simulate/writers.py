"""Drills, part 2: render abstract activity as raw logs in the real vendor formats.

Cross-cutting (drills), before stage 1: input from `org.py` / `attacks.py` (`Activity`); output is one NDJSON file per
format (the names of the format registry), shaped like the real samples in
../shared/fixtures (same keys, types and nesting), so the ingest pipelines parse them as
they would parse production logs. `write_inventory` writes the organisation's inventory
(`Org.inventory()`, siem_pack.inventory's own objects) as an `inventory/` content folder.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from ..errors import SiemPackError
from ..inventory import Grant, Identity, Model
from ..times import format_ts
from .org import Activity, Org, Site, random_token, random_uuid

BENIGN_PROMPTS = (
    "Summarise the attached meeting notes in five bullet points.",
    "Rewrite this paragraph in a friendlier tone for the customer newsletter.",
    "Explain what this SQL query does and suggest an index.",
    "Draft a reply to the ticket about the delayed invoice.",
    "List the risks in this vendor contract clause.",
    "Write unit tests for the parse_date helper.",
    "Translate the release notes into German.",
    "Classify this support ticket: billing, bug, or feature request.",
)
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/144.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
)
SDK_AGENTS = ("OpenAI/Python 1.54.4", "litellm/1.55.3", "Boto3/1.35.60 md/Botocore#1.35.60 ua/2.0 os/linux")


def _ip(site: Site, rng: random.Random) -> str:
    return f"{site.ip_prefix}.{rng.randrange(2, 250)}"


# --- Bedrock model invocation log (CloudWatch / S3 delivery, one JSON object per line) ----

def bedrock_record(act: Activity, rng: random.Random, org: Org) -> dict[str, Any]:
    assert act.model is not None
    prompt = act.prompt or rng.choice(BENIGN_PROMPTS)
    act.record_id = act.record_id or random_uuid(rng)
    inp, out = act.input_tokens, act.output_tokens
    rec: dict[str, Any] = {
        "schemaType": "ModelInvocationLog",
        "schemaVersion": "1.0",
        "timestamp": format_ts(act.ts, "seconds"),
        "accountId": org.profile.aws_account,
        "identity": {"arn": str(act.extra.get("arn") or act.identity.aws_arn)},
        "region": "eu-central-1",
        "requestId": act.record_id,
        "operation": act.operation or "Converse",
        "modelId": act.model.provider_model,
    }
    if act.outcome == "guardrail":
        rec["input"] = {"inputContentType": "application/json", "inputBodyJson": {"messages": [
            {"role": "user", "content": [{"guardContent": {"text": {"text": prompt, "qualifiers": ["guard_content"]}}}]}]},
            "inputTokenCount": inp}
        rec["output"] = {"outputContentType": "application/json", "outputBodyJson": {
            "output": {"message": {"role": "assistant", "content": [{"text": "Sorry, the model cannot answer this question."}]}},
            "stopReason": "guardrail_intervened", "metrics": {"latencyMs": rng.randrange(200, 600)},
            "usage": {"inputTokens": inp, "outputTokens": 0, "totalTokens": inp},
            "trace": {"guardrail": {"inputAssessment": {"gr7acme0policy": {
                "contentPolicy": {"filters": [{"type": str(act.extra.get("filter", "PROMPT_ATTACK")), "confidence": "HIGH",
                                               "filterStrength": "HIGH", "action": "BLOCKED"}]},
                "invocationMetrics": {"guardrailProcessingLatency": rng.randrange(150, 450), "usage": {
                    "topicPolicyUnits": 1, "contentPolicyUnits": 1, "wordPolicyUnits": 1,
                    "sensitiveInformationPolicyUnits": 1, "sensitiveInformationPolicyFreeUnits": 0,
                    "contextualGroundingPolicyUnits": 0},
                    "guardrailCoverage": {"textCharacters": {"guarded": len(prompt), "total": len(prompt)}}}}}}}},
            "outputTokenCount": 0}
        return rec
    rec["input"] = {"inputContentType": "application/json", "inputBodyJson": {
        "messages": [{"role": "user", "content": [{"text": prompt}]}],
        "inferenceConfig": {"maxTokens": 2048, "temperature": 0.5}}, "inputTokenCount": inp}
    rec["output"] = {"outputContentType": "application/json", "outputBodyJson": {
        "output": {"message": {"role": "assistant", "content": [{"text": "Here is the answer you asked for."}]}},
        "stopReason": "end_turn", "metrics": {"latencyMs": rng.randrange(300, 9000)},
        "usage": {"inputTokens": inp, "outputTokens": out, "totalTokens": inp + out}}, "outputTokenCount": out}
    return rec


# --- LiteLLM proxy spend log row (LiteLLM_SpendLogs, exported one row per line) ------------

LITELLM_ERRORS = {
    "denied": ("401", "AuthenticationError", "Authentication Error, Invalid proxy server token passed. "
               "key not allowed to access model."),
    "invalid": ("400", "BadRequestError", "litellm.BadRequestError: Invalid model name passed in model"),
    "throttled": ("429", "RateLimitError", "litellm.RateLimitError: Rate limit reached for requests"),
}


def litellm_spend_record(act: Activity, rng: random.Random, org: Org) -> dict[str, Any]:
    assert act.model is not None
    ident = act.identity
    act.record_id = act.record_id or f"chatcmpl-{random_uuid(rng)}"
    site = act.site
    start = act.ts.astimezone(UTC).replace(tzinfo=None)
    latency = rng.uniform(0.3, 8.0)
    end = datetime.fromtimestamp(start.replace(tzinfo=UTC).timestamp() + latency, UTC).replace(tzinfo=None)
    ok = act.outcome == "success"
    inp, out = (act.input_tokens, act.output_tokens) if ok else (0, 0)
    prices = {"public": (1.5e-07, 6e-07), "internal": (2.5e-06, 1e-05)}
    price_in, price_out = prices.get(act.model.spec.tier, (1.5e-05, 6e-05))
    spend = round(inp * price_in + out * price_out, 10) if ok else 0.0
    key_alias = act.key_alias or ident.key_alias
    key_hash = act.key_hash or ident.key_hash
    ip = _ip(site, rng) if site else None
    team_id = f"team-{ident.team}"
    error_information = None
    if not ok:
        code, cls, msg = LITELLM_ERRORS.get(act.outcome, LITELLM_ERRORS["denied"])
        error_information = {"error_code": code, "error_class": cls, "llm_provider": "openai",
                             "traceback": "", "error_message": msg}
    metadata: dict[str, Any] = {
        "applied_guardrails": [], "batch_models": None, "mcp_tool_call_metadata": None,
        "vector_store_request_metadata": None, "guardrail_information": None,
        "usage_object": {"completion_tokens": out, "prompt_tokens": inp, "total_tokens": inp + out,
                         "completion_tokens_details": None, "prompt_tokens_details": None},
        "model_map_information": {"model_map_key": act.model.provider_model, "model_map_value": None},
        "additional_usage_values": {"completion_tokens_details": None, "prompt_tokens_details": None},
        "user_api_key": key_hash, "user_api_key_alias": key_alias, "user_api_key_team_id": team_id,
        "user_api_key_org_id": None, "user_api_key_user_id": ident.gateway_user,
        "user_api_key_team_alias": ident.team, "spend_logs_metadata": None, "requester_ip_address": ip,
        "user_agent": str(act.extra.get("user_agent") or rng.choice(SDK_AGENTS[:2])),
        "status": "success" if ok else "failure", "proxy_server_request": None,
        "error_information": error_information,
    }
    return {
        "request_id": act.record_id,
        "session_id": str(act.extra.get("session") or random_uuid(rng)),
        "call_type": act.operation or "acompletion",
        "api_key": key_hash,
        "cache_hit": "None",
        "startTime": start.strftime("%Y-%m-%d %H:%M:%S.%f"),
        "endTime": end.strftime("%Y-%m-%d %H:%M:%S.%f"),
        "completionStartTime": end.strftime("%Y-%m-%d %H:%M:%S.%f"),
        "model": act.model.provider_model,
        "user": ident.gateway_user,
        "team_id": team_id,
        "organization_id": "",
        "metadata": json.dumps(metadata),
        "cache_key": "Cache OFF",
        "spend": spend,
        "total_tokens": inp + out,
        "prompt_tokens": inp,
        "completion_tokens": out,
        "request_tags": json.dumps(act.extra.get("tags", [])),
        "end_user": "",
        "api_base": "https://api.openai.com",
        "model_group": act.model.provider_model,
        "model_id": act.model.id,
        "requester_ip_address": ip,
        "custom_llm_provider": "openai",
        "messages": "{}",
        "response": "{}",
        "proxy_server_request": "{}",
        "status": "success" if ok else "failure",
        "mcp_namespaced_tool_name": None,
        "agent_id": None,
    }


# --- Azure OpenAI diagnostic logs (RequestResponse and Audit categories) -------------------

AZURE_STATUS = {"success": "200", "denied": "401", "invalid": "400", "throttled": "429", "guardrail": "400"}
TICKS_EPOCH = 621355968000000000  # .NET ticks at 1970-01-01


def _ticks(ts: datetime) -> int:
    return TICKS_EPOCH + int(ts.timestamp() * 10_000_000)


def azure_record(act: Activity, rng: random.Random, org: Org) -> dict[str, Any]:
    act.record_id = act.record_id or random_uuid(rng)
    site = act.site
    masked = f"{site.ip_prefix}.***" if site else "***"
    time = act.ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")
    if act.kind == "admin":
        # Audit records carry no request id: AssetIdentity is the record's id in the truth file
        return {"AssetIdentity": act.record_id, "Tenant": org.profile.azure_region, "category": "Audit",
                "operationName": act.operation or "ListKey", "properties": {"objectId": act.identity.entra_oid},
                "resourceId": org.profile.azure_resource, "time": time}
    assert act.model is not None
    duration = rng.randrange(250, 6000)
    req_len = max(2, act.input_tokens * 4)
    resp_len = max(2, act.output_tokens * 4) if act.outcome == "success" else 180
    props = {
        "apiName": "Azure OpenAI API version 2024-06-01",
        "requestTime": _ticks(act.ts),
        "requestLength": req_len,
        "responseTime": _ticks(act.ts) + duration * 10_000,
        "responseLength": resp_len,
        "objectId": str(act.extra.get("oid") or act.identity.entra_oid),
        "streamType": "Non-Streaming",
        "modelDeploymentName": act.model.provider_model,
        "modelName": act.model.log_name,
        "modelVersion": "2024-08-06",
    }
    return {
        "Tenant": org.profile.azure_region,
        "callerIpAddress": masked,
        "category": "RequestResponse",
        "correlationId": act.record_id,
        "durationMs": duration,
        "event": "ShoeboxCallResult",
        "location": org.profile.azure_region,
        "operationName": act.operation or "ChatCompletions_Create",
        "properties": props,
        "resourceId": org.profile.azure_resource,
        "resultSignature": AZURE_STATUS.get(act.outcome, "403"),
        "time": time,
    }


# --- OpenAI organisation audit log (GET /v1/organization/audit_logs, one object per line) --

def openai_audit_record(act: Activity, rng: random.Random, org: Org) -> dict[str, Any]:
    act.record_id = act.record_id or "audit_log-" + random_token(rng, 24)
    site = act.site
    assert site is not None
    ip = str(act.extra.get("ip") or _ip(site, rng))
    session = {
        "user": {"id": act.identity.openai_user_id, "email": act.identity.spec.email},
        "ip_address": ip,
        "user_agent": str(act.extra.get("user_agent") or rng.choice(USER_AGENTS)),
        "ja3": random_token(rng, 32).lower(),
        "ja4": "t13d691100_8b2139ff7677_f0e8fcc46740",
        "ip_address_details": {"country": site.country, "city": site.city, "region": site.region,
                               "region_code": site.region_code, "asn": site.asn, "latitude": site.lat,
                               "longitude": site.lon},
    }
    typ = act.operation or ("login.succeeded" if act.outcome == "success" else "login.failed")
    rec: dict[str, Any] = {"object": "organization.audit_log", "id": act.record_id, "type": typ,
                           "effective_at": int(act.ts.timestamp())}
    if typ.startswith("api_key.") or typ.startswith("project.") or typ.startswith("service_account."):
        rec["project"] = {"id": org.profile.openai_project[0], "name": org.profile.openai_project[1]}
    rec["actor"] = {"type": "session", "session": session}
    if typ == "api_key.created":
        rec[typ] = {"id": "key_" + random_token(rng, 16), "data": {"scopes": ["/v1/*"]}}
    elif typ == "login.failed":
        rec[typ] = {"error_code": "invalid_credentials", "error_message": "Invalid email or password"}
    return rec


RENDERERS: dict[str, Callable[[Activity, random.Random, Org], dict[str, Any]]] = {
    "bedrock_invocation": bedrock_record,
    "litellm_spend": litellm_spend_record,
    "azure_openai": azure_record,
    "openai_audit": openai_audit_record,
}


def write_logs(acts: Iterable[Activity], out_dir: Path, rng: random.Random, org: Org) -> dict[str, int]:
    """Write every activity to its format's NDJSON file in time order; sets each
    `record_id` and `extra['file']` / `extra['line']`. Returns records per format."""
    out_dir.mkdir(parents=True, exist_ok=True)
    ordered = sorted(acts, key=lambda a: (a.ts, a.source, a.identity.id))
    by_source: dict[str, list[str]] = {s: [] for s in RENDERERS}
    for act in ordered:
        rec = RENDERERS[act.source](act, rng, org)
        lines = by_source[act.source]
        lines.append(json.dumps(rec, separators=(",", ":")))
        act.extra["file"] = f"{act.source}.ndjson"
        act.extra["line"] = len(lines)
    counts = {}
    for source, lines in by_source.items():
        if lines:
            (out_dir / f"{source}.ndjson").write_text("\n".join(lines) + "\n", encoding="utf-8")
        counts[source] = len(lines)
    return counts


# --- the inventory folder ---------------------------------------------------------------

def write_inventory(org: Org, out_dir: Path) -> None:
    """The organisation's inventory (`Org.inventory()`) as content in the bundle's format
    (siem_pack.inventory, docs/inventory.md): one YAML object per file, named by its id."""
    inventory = org.inventory()
    for sub in ("models", "identities", "grants"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)

    def dump(path: Path, obj: dict[str, Any]) -> None:
        path.write_text(yaml.safe_dump(obj, sort_keys=False, allow_unicode=True, width=200), encoding="utf-8")

    for m in inventory.models:
        dump(out_dir / "models" / f"{m.id}.yml", _model_doc(m))
    for i in inventory.identities:
        dump(out_dir / "identities" / f"{i.id}.yml", _identity_doc(i))
    for g in inventory.grants:
        dump(out_dir / "grants" / f"{g.id}.yml", _grant_doc(g))
    try:  # the organisation-wide lists come from the bundle's inventory
        from ..paths import content_dir

        for name in ("response_levels.yml", "privileged_actions.yml"):
            src = content_dir("inventory") / name
            if src.is_file():
                (out_dir / name).write_text(src.read_text(encoding="utf-8"), encoding="utf-8")
    except SiemPackError:
        pass


def _model_doc(m: Model) -> dict[str, Any]:
    body: dict[str, Any] = {"id": m.id, "description": m.description, "names": list(m.names), "tier": m.tier,
                            "owner": m.owner, "environment": m.environment, "allowed_groups": list(m.allowed_groups)}
    if m.allowed_roles:
        body["allowed_roles"] = list(m.allowed_roles)
    return body


def _identity_doc(i: Identity) -> dict[str, Any]:
    aliases: dict[str, list[str]] = {}
    for kind, value in i.aliases:
        aliases.setdefault(kind, []).append(value)
    body: dict[str, Any] = {"id": i.id, "name": i.name, "type": i.type}
    if i.email:
        body["email"] = i.email
    body.update({"groups": list(i.groups), "roles": list(i.roles), "time_zone": i.time_zone,
                 "countries": list(i.countries)})
    if i.type == "human":  # working hours only mean something for people (Inventory.off_hours)
        start, end = i.working_hours
        body["working_hours"] = f"{start[:5]}-{end[:5]}"
    body["aliases"] = aliases
    return body


def _grant_doc(g: Grant) -> dict[str, Any]:
    """A grant of models or of privileged actions (event.action as ingest writes it)."""
    body: dict[str, Any] = {"id": g.id, "kind": g.kind, "identities": list(g.identities), "groups": list(g.groups)}
    if g.models:
        body["models"] = list(g.models)
    if g.actions:
        body["actions"] = list(g.actions)
    body.update({"start": format_ts(g.start, "seconds"), "expiry": format_ts(g.expiry, "seconds"),
                 "justification": g.justification, "approved_by": g.approved_by})
    return body


# --- the organisation's networks (a GeoIP CSV, docs/geography.md) ---------------------------

def write_networks(org: Org, path: Path) -> int:
    """Every site's egress range (a /24) with its country, city and network operator, in the
    CSV `siem-pack geoip build` and `--geoip-db` read: what a team without a commercial
    database keeps for its offices and the places it knows. Rented servers are a hosting
    provider's network. Returns the number of networks."""
    rows = ["network,country_iso_code,country_name,city_name,region_name,latitude,longitude,asn,as_org"]
    sites = {**org.profile.sites, **org.profile.foreign}
    for site in sorted(sites.values(), key=lambda x: x.ip_prefix):
        operator = f"{site.city} Hosting Ltd" if site.name.endswith("_vps") else f"{site.city} Telecom"
        rows.append(",".join([f"{site.ip_prefix}.0/24", site.country, COUNTRY_NAMES.get(site.country, site.country),
                              site.city, site.region, site.lat, site.lon, site.asn, operator]))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return len(rows) - 1


COUNTRY_NAMES = {
    "AU": "Australia", "BR": "Brazil", "CA": "Canada", "DE": "Germany", "FR": "France", "GB": "United Kingdom",
    "IN": "India", "JP": "Japan", "KZ": "Kazakhstan", "NG": "Nigeria", "NL": "Netherlands", "RO": "Romania",
    "SG": "Singapore", "US": "United States",
}
