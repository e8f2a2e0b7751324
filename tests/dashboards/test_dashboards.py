"""Dashboards: every spec loads, renders to Kibana saved objects for 8.19 and 9.x, and passes
the static checks and our own model of the import request, saved objects and data views;
broken specs and objects are caught. The conformance layer (needs the upstream contracts; no
Kibana runs here) checks the same objects against Kibana's OpenAPI contracts, with a
differential: every mutation of an object or the request the contracts reject, our model
rejects too."""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from siem_pack.cli import main
from siem_pack.dashboards import load_dashboard, load_dashboards, render_templates
from siem_pack.dashboards.checks import (
    check_all,
    check_data_views,
    check_fields,
    check_import_request,
    check_objects,
)
from siem_pack.dashboards.kibana import KIBANA_VERSIONS, ImportRequest, import_request, saved_objects
from siem_pack.dashboards.spec import dashboards_dir, parse_dashboard
from siem_pack.errors import ContentError, ContentErrors
from tests.support import contracts
from tests.support.mutations import mutations

SPEC_FILES = sorted(dashboards_dir().glob("*.yml"))
EXPECTED = {"overview", "sensitive-models", "identity", "baselines", "detections", "integrity"}


def test_every_dashboard_of_the_issue_exists() -> None:
    assert {p.stem for p in SPEC_FILES} == EXPECTED


@pytest.mark.parametrize("path", SPEC_FILES, ids=[p.name for p in SPEC_FILES])
def test_dashboard_spec(path: Path) -> None:
    dash = load_dashboard(path)
    assert dash.id == path.stem
    assert check_fields(dash) == []
    for version in KIBANA_VERSIONS:
        objects = saved_objects([dash], version)
        assert [o["type"] for o in objects].count("dashboard") == 1
        assert check_objects(objects) == []
        assert check_import_request(import_request(objects)) == []
        assert check_data_views(objects) == []


def test_all_checks_pass_together() -> None:
    assert check_all(load_dashboards(), KIBANA_VERSIONS) == []


def test_runtime_needs_no_contract_library(tmp_path: Path) -> None:
    """`dashboards check` and `build` run without importing the tests' support package
    (tests.support), the only reader of Kibana's published contracts (and with SIEM_PACK_SHARED
    naming nothing)."""
    code = ("import sys; from pathlib import Path; from siem_pack.dashboards import build as b; "
            f"assert b.check_dashboards().problems == (); b.build(Path({str(tmp_path)!r})); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'tests'))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", "SIEM_PACK_SHARED": str(tmp_path / "nowhere")})
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"
    assert (tmp_path / "9.x" / "siem-pack-dashboards.ndjson").is_file()


def test_ndjson_is_deterministic_and_ordered() -> None:
    dashes = load_dashboards()
    a = saved_objects(dashes, "9.x")
    b = saved_objects(load_dashboards(), "9.x")
    assert a == b
    types = [o["type"] for o in a]
    assert types == sorted(types, key=lambda t: t != "index-pattern")  # data views before dashboards
    assert len({(o["type"], o["id"]) for o in a}) == len(a)
    body = import_request(a).ndjson
    assert all(json.loads(line)["id"] for line in body.splitlines())


def test_versions_differ_only_in_panel_stamps() -> None:
    dashes = load_dashboards()
    v8 = {o["id"]: o for o in saved_objects(dashes, "8.19")}
    v9 = {o["id"]: o for o in saved_objects(dashes, "9.x")}
    assert v8.keys() == v9.keys()
    panels8 = json.loads(v8["siem-pack-overview"]["attributes"]["panelsJSON"])
    panels9 = json.loads(v9["siem-pack-overview"]["attributes"]["panelsJSON"])
    assert {p["version"] for p in panels8} == {"8.19.0"}
    assert {p["version"] for p in panels9} == {"9.0.0"}
    for p in panels8 + panels9:
        p.pop("version")
    assert panels8 == panels9


def test_rate_metric_renders_as_a_lens_formula() -> None:
    dash = next(d for d in load_dashboards() if d.id == "overview")
    dobj = saved_objects([dash], "9.x")[-1]
    panel = next(p for p in json.loads(dobj["attributes"]["panelsJSON"]) if p["panelIndex"] == "compliant-rate")
    layer = next(iter(panel["embeddableConfig"]["attributes"]["state"]["datasourceStates"]["formBased"]["layers"]
                      .values()))
    formula = layer["columns"]["m0"]
    assert formula["operationType"] == "formula"
    assert formula["params"]["formula"] == "count(kql='siem_pack.policy.verdict : \"compliant\"') / count()"
    assert layer["columns"]["m0X0"]["filter"]["query"] == 'siem_pack.policy.verdict : "compliant"'


# -- problems are caught ------------------------------------------------------------
def _spec(**panel: Any) -> dict[str, Any]:
    base = {"id": "p1", "title": "P", "kind": "bar", "index": "events", "metrics": [{"op": "count"}],
            "buckets": [{"field": "user.id"}]}
    return {"id": "t", "title": "T", "panels": [{**base, **panel}]}


def test_unknown_field_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "t.yml"
    path.write_text(yaml.safe_dump(_spec(buckets=[{"field": "user.idd"}], filter="event.outcom : x"),
                                   sort_keys=False))
    problems = check_fields(load_dashboard(path))
    text = [str(p) for p in problems]
    assert any("field 'user.idd' is not a field of index 'events'" in t for t in text)
    assert any("filter 'event.outcom'" in t for t in text)
    assert all(t.startswith(f"{path}:") for t in text)


def test_wrong_field_types_are_reported() -> None:
    dash = parse_dashboard(_spec(kind="line", metrics=[{"op": "sum", "field": "user.id"}],
                                 buckets=[{"field": "user.name", "interval": "1h"}]), "t.yml")
    text = " ".join(str(p) for p in check_fields(dash))
    assert "sum needs a numeric field; user.id is keyword" in text
    assert "the time axis needs a date field" in text


def test_spec_problems_are_collected() -> None:
    raw = {"id": "t", "title": "T", "colour": "red", "panels": [
        {"id": "a", "title": "A", "kind": "donut", "index": "events"},
        {"id": "b", "title": "B", "kind": "metric", "index": "logs", "metrics": [{"op": "median"}]},
        {"id": "c", "title": "C", "kind": "line", "index": "events", "buckets": [{"field": "user.id"}]},
    ]}
    with pytest.raises(ContentErrors) as exc:
        parse_dashboard(raw, "t.yml")
    text = str(exc.value)
    for needle in ("unknown key 'colour'", "unknown kind 'donut'", "unknown index 'logs'", "op must be one of",
                   "first bucket is the time axis"):
        assert needle in text


def test_bad_kql_is_a_content_error() -> None:
    dash = parse_dashboard(_spec(filter='user.id : ("a" or'), "t.yml")
    problems = check_fields(dash)
    assert problems and isinstance(problems[0], ContentError) and "KQL" in str(problems[0])


def test_broken_references_are_caught() -> None:
    objects = saved_objects(load_dashboards(), "9.x")
    without_alerts_view = [o for o in objects if o["id"] != "siem-pack-alerts"]
    text = " ".join(str(p) for p in check_objects(without_alerts_view))
    assert "→ index-pattern/siem-pack-alerts is not in the bundle" in text

    broken = copy.deepcopy(objects)
    dash = next(o for o in broken if o["id"] == "siem-pack-detections")
    dash["references"] = dash["references"][1:]
    text = " ".join(str(p) for p in check_objects(broken))
    assert "missing from the dashboard's references" in text


def test_lens_schema_catches_a_malformed_column() -> None:
    objects = saved_objects(load_dashboards(), "8.19")
    dash = next(o for o in objects if o["id"] == "siem-pack-overview")
    panels = json.loads(dash["attributes"]["panelsJSON"])
    layer = next(iter(panels[0]["embeddableConfig"]["attributes"]["state"]["datasourceStates"]["formBased"]
                      ["layers"].values()))
    layer["columns"]["m0"]["operationType"] = "median_absolute"
    panels[1]["embeddableConfig"]["attributes"]["state"]["visualization"]["metricAccessor"] = "nope"
    dash["attributes"]["panelsJSON"] = json.dumps(panels)
    text = " ".join(str(p) for p in check_objects(objects))
    assert "Lens schema" in text and "median_absolute" in text
    assert "visualization accessor nope is not a column" in text


def _request(req: ImportRequest, **changes: Any) -> ImportRequest:
    return dataclasses.replace(req, **changes)


def _texts(problems: list[Any]) -> list[str]:
    return [str(p) for p in problems]


def test_import_request_violations() -> None:
    objects = saved_objects(load_dashboards(), "9.x")
    req = import_request(objects)
    assert check_import_request(req) == []
    where = f"POST {req.path}: import request:"
    assert _texts(check_import_request(_request(req, headers={}))) == [
        f"{where} headers: 'kbn-xsrf' is a required property"]
    bad_query = _request(req, query={"overwrite": "yes", "createNewCopies": True, "dryRun": True})
    assert _texts(check_import_request(bad_query)) == [
        f"{where} query: Additional properties are not allowed ('dryRun' was unexpected)",
        f"{where} query/overwrite: 'yes' is not of type 'boolean'",
        f"{where} createNewCopies cannot be combined with overwrite or compatibilityMode"]
    assert _texts(check_import_request(_request(req, method="PUT", path="/api/saved_objects/import"))) == [
        "POST /api/saved_objects/import: import request: method: 'POST' was expected",
        "POST /api/saved_objects/import: import request: path: '/api/saved_objects/import' does not match "
        "'^(/s/[a-z0-9_-]+)?/api/saved_objects/_import$'"]
    (text,) = _texts(check_import_request(_request(req, filename="dashboards.json")))
    assert text.startswith(f"{where} body/parts/file/filename: 'dashboards.json' does not match")
    no_attrs = _request(req, path="/s/team/api/saved_objects/_import",
                        ndjson='{"type": "dashboard", "id": "x", "references": []}\n{"type": "lens"}\nnot json\n')
    text = _texts(check_import_request(no_attrs))
    assert text[0] == f"{req.filename}: NDJSON line 1 (dashboard/x): (root): 'attributes' is a required property"
    assert text[1] == (f"{req.filename}: NDJSON line 2 (lens/None): type: 'lens' unsupported; known: dashboard, "
                       "index-pattern")
    assert text[2].startswith(f"{req.filename}: NDJSON line 3 is not JSON: ")


def test_saved_object_violations() -> None:
    objects = copy.deepcopy(saved_objects(load_dashboards(), "9.x"))
    view = next(o for o in objects if o["id"] == "siem-pack-alerts")
    view["attributes"]["title"] = 42
    view["attributes"]["runtimeFieldMap"] = json.dumps({"x": {"type": "double"}})
    dash = next(o for o in objects if o["type"] == "dashboard")
    dash["attributes"]["panelsJSON"] = "[{"
    dash["attributes"]["timeFrom"] = ""
    dash["references"][0]["type"] = "visualisation"
    dash["managed"] = "no"
    text = " ".join(_texts(check_import_request(import_request(objects))))
    for needle in ("(index-pattern/siem-pack-alerts): attributes/runtimeFieldMap/x: 'script' is a required property",
                   "(index-pattern/siem-pack-alerts): attributes/title: 42 is not of type 'string'",
                   f"({dash['type']}/{dash['id']}): attributes/panelsJSON: is not JSON: ",
                   f"({dash['type']}/{dash['id']}): attributes/timeFrom: '' should be non-empty",
                   f"({dash['type']}/{dash['id']}): managed: 'no' is not of type 'boolean'",
                   f"({dash['type']}/{dash['id']}): references/0/type: 'visualisation' is not one of "):
        assert needle in text, needle


def test_data_view_violations() -> None:
    objects = saved_objects(load_dashboards(), "9.x")
    view = copy.deepcopy(next(o for o in objects if o["id"] == "siem-pack-seals"))
    view["attributes"]["timeFieldName"] = "dataset"
    view["attributes"]["title"] = "siem-pack-seal*"
    stray = {**copy.deepcopy(view), "id": "someone-elses"}
    assert _texts(check_data_views([view, stray])) == [
        "data view siem-pack-seals: title 'siem-pack-seal*' is not the index pattern 'siem-pack-seals'",
        "data view siem-pack-seals: time field 'dataset' is not a date field of index 'seals' (keyword)",
        "data view someone-elses: not the data view of any of our indices (siem-pack-alerts, siem-pack-anomalies, "
        "siem-pack-events, siem-pack-metrics, siem-pack-seals)"]


# -- conformance: Kibana's published contracts ------------------------------------------
@pytest.mark.parametrize("version", KIBANA_VERSIONS)
def test_objects_meet_the_kibana_contracts(version: str, contracts_dir: Path) -> None:
    objects = saved_objects(load_dashboards(), version)
    assert contracts.import_request_problems(import_request(objects), contracts_dir) == []
    assert contracts.data_view_problems(objects, contracts_dir) == []


def test_import_request_contract_violations(contracts_dir: Path) -> None:
    objects = saved_objects(load_dashboards(), "9.x")
    req = import_request(objects)
    assert contracts.import_request_problems(req, contracts_dir) == []
    assert "missing kbn-xsrf header" in str(contracts.import_request_problems(_request(req, headers={}), contracts_dir))
    bad_query = _request(req, query={"overwrite": "yes", "createNewCopies": True, "dryRun": True})
    text = str(contracts.import_request_problems(bad_query, contracts_dir))
    assert "unknown query parameter 'dryRun'" in text
    assert "?overwrite: (root): 'yes' is not of type 'boolean'" in text
    no_attrs = _request(req, path="/s/team/api/saved_objects/_import",
                        ndjson='{"type": "dashboard", "id": "x", "references": []}\n')
    assert "'attributes' is a required property" in str(contracts.import_request_problems(no_attrs, contracts_dir))
    assert any(t.startswith("siem-pack-dashboards.ndjson: NDJSON line 1 (dashboard/x)")
               for t in _texts(check_import_request(no_attrs)))  # and our own model


def test_data_view_contract_violation(contracts_dir: Path) -> None:
    objects = saved_objects(load_dashboards(), "9.x")
    view = copy.deepcopy(next(o for o in objects if o["type"] == "index-pattern"))
    view["attributes"]["title"] = 42
    view["attributes"]["runtimeFieldMap"] = json.dumps({"x": {"type": "double"}})
    text = " ".join(contracts.data_view_problems([view], contracts_dir))
    assert "42 is not of type 'string'" in text
    assert "'script' is a required property" in text


def _object_mutations(obj: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every single-point mutation of a saved object, and of the runtime-field map its
    runtimeFieldMap string holds (re-encoded), and that string not JSON."""
    out = list(mutations(obj))
    encoded = (obj.get("attributes") or {}).get("runtimeFieldMap")
    if isinstance(encoded, str):
        for label, rmap in mutations(json.loads(encoded)):
            out.append((f"runtimeFieldMap > {label}", {**obj, "attributes": {
                **obj["attributes"], "runtimeFieldMap": json.dumps(rmap)}}))
        out.append(("runtimeFieldMap: not JSON", {**obj, "attributes": {**obj["attributes"], "runtimeFieldMap": "{"}}))
    return out


OBJECTS_9 = saved_objects(load_dashboards(), "9.x")


@pytest.mark.parametrize("obj", OBJECTS_9, ids=[f"{o['type']}/{o['id']}" for o in OBJECTS_9])
def test_differential_saved_object(obj: dict[str, Any], contracts_dir: Path) -> None:
    """Every single-point mutation of the object that Kibana's saved-objects or data-views
    contract rejects (in an import request of that object alone), our model rejects too."""
    rejected = 0
    misses = []
    for label, mutated in _object_mutations(obj):
        req = import_request([mutated])
        if (contracts.import_request_problems(req, contracts_dir)
                or contracts.data_view_problems([mutated], contracts_dir)):
            rejected += 1
            if not check_import_request(req) + check_data_views([mutated]):
                misses.append(label)
    assert rejected >= 4, f"only {rejected} mutations rejected by the contract: the differential tests little"
    assert misses == [], f"{obj['id']}: the contracts reject, our model accepts: {misses}"


REQUEST_MUTATIONS: dict[str, dict[str, Any]] = {
    "no kbn-xsrf": {"headers": {}},
    "another header only": {"headers": {"x-custom": "1"}},
    "overwrite not boolean": {"query": {"overwrite": "yes"}},
    "createNewCopies not boolean": {"query": {"createNewCopies": 1}},
    "unknown query parameter": {"query": {"overwrite": True, "dryRun": True}},
    "GET": {"method": "GET"},
    "DELETE": {"method": "DELETE"},
    "wrong path": {"path": "/api/saved_objects/import"},
    "export path": {"path": "/api/saved_objects/_export"},
    "line not JSON": {"ndjson": "{\n"},
    "line without type": {"ndjson": '{"id": "x", "attributes": {}, "references": []}\n'},
    "line without id": {"ndjson": '{"type": "dashboard", "attributes": {"title": "x"}, "references": []}\n'},
    "line without attributes": {"ndjson": '{"type": "dashboard", "id": "x", "references": []}\n'},
    "attributes not an object": {"ndjson": '{"type": "dashboard", "id": "x", "attributes": [], "references": []}\n'},
    "references not a list": {"ndjson": '{"type": "dashboard", "id": "x", "attributes": {}, "references": {}}\n'},
}


@pytest.mark.parametrize("changes", REQUEST_MUTATIONS.values(), ids=list(REQUEST_MUTATIONS))
def test_differential_import_request(changes: dict[str, Any], contracts_dir: Path) -> None:
    """Each broken request: Kibana's saved-objects contract rejects it, and so does our model."""
    req = _request(import_request(OBJECTS_9), **changes)
    assert contracts.import_request_problems(req, contracts_dir)
    assert check_import_request(req)


# -- templates ---------------------------------------------------------------------
def test_render_templates_with_learnt_thresholds(tmp_path: Path) -> None:
    written = render_templates({"default": 65.5, "service-accounts": 81}, out_dir=tmp_path)
    assert [p.name for p in written] == ["baselines.yml"]
    dash = load_dashboard(written[0])
    risk = next(p for p in dash.panels if p.id == "risk-over-time")
    assert [(r.value, r.label) for r in risk.reference_lines] == [(65.5, "threshold (default)"),
                                                                  (81.0, "threshold (service-accounts)")]
    assert check_fields(dash) == []


def test_committed_baselines_spec_is_rendered_from_its_template(tmp_path: Path) -> None:
    render_templates({"default": 70.0}, out_dir=tmp_path)
    assert (tmp_path / "baselines.yml").read_text() == (dashboards_dir() / "baselines.yml").read_text()


def test_a_bad_template_writes_nothing(tmp_path: Path) -> None:
    tdir = tmp_path / "templates"
    tdir.mkdir()
    (tdir / "x.yml.j2").write_text("id: x\ntitle: X\npanels:\n  - {id: a, title: A, kind: pie, index: events}\n")
    with pytest.raises(ContentError, match="a pie panel has one bucket"):
        render_templates({"default": 1}, out_dir=tmp_path, template_dir=tdir)
    assert not (tmp_path / "x.yml").exists()


# -- command line ------------------------------------------------------------------------
def test_cli_check_build_export(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(main, ["dashboards", "check"])
    assert res.exit_code == 0, res.output
    assert "6 dashboards" in res.output and "0 problem(s)" in res.output
    res = runner.invoke(main, ["dashboards", "build", "--out", str(tmp_path / "kb")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "kb" / "8.19" / "siem-pack-dashboards.ndjson").is_file()
    assert (tmp_path / "kb" / "9.x" / "siem-pack-dashboards.ndjson").is_file()
    res = runner.invoke(main, ["dashboards", "export", "--kibana-version", "8.19", "--out", str(tmp_path / "x.ndjson")])
    assert res.exit_code == 0, res.output
    assert "kbn-xsrf: true" in res.output and f"--form file=@{tmp_path / 'x.ndjson'}" in res.output
    lines = (tmp_path / "x.ndjson").read_text().splitlines()
    assert len(lines) == len(saved_objects(load_dashboards(), "8.19"))


@pytest.fixture()
def broken_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A content root whose overview dashboard reads a field that does not exist."""
    root = tmp_path / "content"
    shutil.copytree(dashboards_dir().parent / "schema", root / "schema")
    shutil.copytree(dashboards_dir(), root / "dashboards")
    spec = root / "dashboards" / "overview.yml"
    spec.write_text(spec.read_text().replace("field: user.id, size: 20", "field: user.identity, size: 20"))
    monkeypatch.setenv("SIEM_PACK_CONTENT", str(root))
    return spec


def test_cli_check_fails_with_one_line_per_problem(broken_content: Path) -> None:
    res = CliRunner().invoke(main, ["dashboards", "check", "--kibana-version", "9.x"])
    assert res.exit_code == 1
    assert "1 problem(s)" in res.output
    assert (f"{broken_content}:" in res.output and
            "panel 'who-which-model': field 'user.identity' is not a field of index 'events'" in res.output)
    res = CliRunner().invoke(main, ["dashboards", "build", "--out", str(broken_content.parent / "out")])
    assert res.exit_code == 1
    assert not (broken_content.parent / "out").exists()


def test_avg_renders_as_lens_average_over_the_runtime_field() -> None:
    dash = next(d for d in load_dashboards() if d.id == "detections")
    objects = saved_objects([dash], "8.19")
    view = next(o for o in objects if o["id"] == "siem-pack-alerts")
    assert "siem_pack.alert.detection_delay_seconds" in json.loads(view["attributes"]["runtimeFieldMap"])
    panel = next(p for p in json.loads(objects[-1]["attributes"]["panelsJSON"]) if p["panelIndex"] == "mttd")
    layer = next(iter(panel["embeddableConfig"]["attributes"]["state"]["datasourceStates"]["formBased"]["layers"]
                      .values()))
    assert layer["columns"]["m0"]["operationType"] == "average"
    assert layer["columns"]["m0"]["sourceField"] == "siem_pack.alert.detection_delay_seconds"
