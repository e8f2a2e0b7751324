"""The simulator: deterministic by seed, records shaped like the real vendor samples, a
truth file that names real records, and an inventory that knows every alias."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from siem_pack.cli import main
from siem_pack.ingest.formats import FORMATS
from siem_pack.inventory import load_inventory
from siem_pack.simulate import SCENARIOS, SimulationResult, simulate

# one real sample per simulated format (relative to the shared fixtures folder)
REAL = {
    "bedrock_invocation": "aws_bedrock/invocation/test-aws-bedrock.log",
    "litellm_spend": "litellm/examples/spend_logs_payload.json",
    "azure_openai": "azure_openai/logs/test-open-ai-request-response.log",
    "openai_audit": "openai/audit/test-audit.log",
}


def _records(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8").strip()
    if text.startswith("{\n"):
        return [json.loads(text)]
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _shape(value: Any) -> Any:
    """Keys and JSON types, recursively (lists by their first item)."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return "null" if value is None else "number" if isinstance(value, (int, float)) else type(value).__name__


def _paths(shape: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(shape, dict):
        for k, v in shape.items():
            out[prefix + k] = "object" if isinstance(v, dict) else "array" if isinstance(v, list) else v
            if isinstance(v, dict):
                out.update(_paths(v, prefix + k + "."))
    return out


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    a = simulate(tmp_path / "a", days=4, identities=10, seed=3)
    b = simulate(tmp_path / "b", days=4, identities=10, seed=3)
    files = sorted(p.relative_to(a.out_dir) for p in a.out_dir.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b.out_dir) for p in b.out_dir.rglob("*") if p.is_file())
    for rel in files:
        assert (a.out_dir / rel).read_bytes() == (b.out_dir / rel).read_bytes(), rel
    assert json.loads(a.truth_path.read_text()) == json.loads(b.truth_path.read_text())
    c = simulate(tmp_path / "c", days=4, identities=10, seed=4)
    assert (c.logs_dir / "litellm_spend.ndjson").read_bytes() != (a.logs_dir / "litellm_spend.ndjson").read_bytes()


def test_formats_are_registry_names(small_sim: SimulationResult) -> None:
    assert set(small_sim.records) <= set(FORMATS)
    assert all(n > 0 for n in small_sim.records.values()), small_sim.records


@pytest.mark.parametrize("fmt", sorted(REAL))
def test_records_shaped_like_real_samples(small_sim: SimulationResult, fixtures_dir: Path, fmt: str) -> None:
    """Every top-level key of a simulated record exists in a real sample with the same JSON
    type, and the real sample's identity/model/time keys are all present."""
    real = [_paths(_shape(r)) for r in _records(fixtures_dir / REAL[fmt])]
    real_types: dict[str, set[Any]] = {}
    for r in real:
        for k, t in r.items():
            real_types.setdefault(k, set()).add(t)
    sims = _records(small_sim.logs_dir / f"{fmt}.ndjson")
    core = set.intersection(*(set(k for k in r if "." not in k) for r in real))
    for rec in sims[:300]:
        paths = _paths(_shape(rec))
        top = {k for k in paths if "." not in k}
        if fmt == "azure_openai" and rec["category"] == "Audit":
            continue  # checked in test_azure_audit_records_like_real
        assert core - top == set(), f"{fmt}: keys every real record has are missing: {core - top}"
        for key in top:
            assert key in real_types or fmt == "openai_audit", f"{fmt}: key {key!r} is in no real sample"
            if key in real_types and paths[key] != "null" and "null" not in real_types[key]:
                assert paths[key] in real_types[key], f"{fmt}.{key}: {paths[key]} vs real {real_types[key]}"


def test_azure_audit_records_like_real(small_sim: SimulationResult, fixtures_dir: Path) -> None:
    real = _records(fixtures_dir / "azure_openai/logs/test-open-ai-audit.log")[0]
    audits = [r for r in _records(small_sim.logs_dir / "azure_openai.ndjson") if r["category"] == "Audit"]
    assert audits, "the tampering scenario writes Azure Audit records"
    for rec in audits:
        assert set(rec) == set(real) and _shape(rec) == _shape(real)


def test_truth_names_real_records(small_sim: SimulationResult) -> None:
    truth = json.loads(small_sim.truth_path.read_text())
    assert len(truth["scenarios"]) == len(SCENARIOS) >= 12
    lines = {fmt: (small_sim.logs_dir / f"{fmt}.ndjson").read_text().splitlines() for fmt in small_sim.records}
    for s in truth["scenarios"]:
        assert s["atlas"] and all(re.fullmatch(r"(AML\.T\d{4}(\.\d{3})?|T\d{4}(\.\d{3})?)", t) for t in s["atlas"])
        assert s["owasp"] and all(re.fullmatch(r"LLM(0[1-9]|10):2025", t) for t in s["owasp"])
        assert s["start"] >= truth["evaluation_start"], f"{s['id']} starts in the warm-up"
        assert s["events"] and s["attackers"]
        for e in s["events"]:
            line = lines[e["format"]][e["line"] - 1]
            assert e["record_id"] in line, (s["id"], e)


def test_inventory_knows_every_alias(small_sim: SimulationResult) -> None:
    """The simulated inventory loads with the bundle's loader and resolves every caller."""
    inv = load_inventory(small_sim.inventory_dir)
    assert len(inv.identities) == len(small_sim.org.identities)
    aliases = {v for i in inv.identities for _, v in i.aliases}
    for rec in _records(small_sim.logs_dir / "bedrock_invocation.ndjson"):
        arn = rec["identity"]["arn"]
        # a role's sessions (any name) resolve through its iam_role alias, as ingest does
        session = re.fullmatch(r"arn:aws:sts::(\d+):assumed-role/([^/]+)/.+", arn)
        role = {"iam_role": f"arn:aws:iam::{session[1]}:role/{session[2]}"} if session else {}
        assert arn in aliases or inv.resolve([arn], role) is not None, arn
        assert inv.model_for(rec["modelId"]) is not None, rec["modelId"]
    for rec in _records(small_sim.logs_dir / "litellm_spend.ndjson"):
        # a team key has no gateway user: its hash names the identity
        assert inv.resolve([rec["user"]], {"key_hash": rec["api_key"]}) is not None, (rec["user"], rec["api_key"])
    for rec in _records(small_sim.logs_dir / "azure_openai.ndjson"):
        if rec["category"] == "RequestResponse":
            assert rec["properties"]["objectId"] in aliases
    assert {m.tier for m in inv.models} == {"public", "internal", "confidential", "restricted"}
    assert any(g.kind == "approval" and g.models for g in inv.grants), "a dated grant of a model"


def test_inventory_files_are_the_organisations_inventory(small_sim: SimulationResult) -> None:
    """What the simulator writes is its own inventory objects (`Org.inventory()`): the folder
    loads back to the same models, identities and grants."""
    inv, written = small_sim.org.inventory(), load_inventory(small_sim.inventory_dir)
    for kind in ("models", "identities", "grants"):
        ours, loaded = getattr(inv, kind), getattr(written, kind)
        assert sorted(loaded, key=lambda x: x.id) == sorted(ours, key=lambda x: x.id), kind


def test_cli_simulate(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["simulate", "--days", "3", "--identities", "8", "--seed", "2",
                                    "--out", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert summary["scenarios"] == len(SCENARIOS) and summary["records_total"] > 100
    bad = CliRunner().invoke(main, ["simulate", "--days", "1", "--out", str(tmp_path)])
    assert bad.exit_code == 2
    assert "siem-pack: error: --days: --days must be at least 3 (got 1)" in bad.output


def test_networks_csv_covers_every_site_and_reads_cleanly(small_sim: SimulationResult) -> None:
    """networks.csv is a valid GeoIP CSV (docs/geography.md) with one /24 per site, rented
    servers as a hosting provider's network."""
    from siem_pack.ingest.geoip_csv import read_csv

    rows = read_csv(small_sim.networks_path)
    prof = small_sim.org.profile
    sites = {**prof.sites, **prof.foreign}
    assert len(rows) == len(sites)
    text = small_sim.networks_path.read_text()
    for site in sites.values():
        assert f"{site.ip_prefix}.0/24,{site.country}," in text, site.name
    rented = [s for s in sites.values() if s.name.endswith("_vps")]
    assert rented
    for site in rented:
        row = next(line for line in text.splitlines() if line.startswith(f"{site.ip_prefix}.0/24,"))
        assert row.endswith("Hosting Ltd"), row
