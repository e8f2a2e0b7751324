"""Static checks over all detection content: fields exist in the schema, ids unique, tags
in the vocabulary, files canonical, fixtures present."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from siem_pack.detect.canon import dumps
from siem_pack.detect.rules import (
    SEVERITY_RISK,
    Rule,
    _env,
    check_tags,
    load_vocabulary,
    parse_rule,
    render_templates,
    rule_files,
    template_variables,
)
from siem_pack.errors import ContentError, ContentErrors
from siem_pack.paths import content_dir
from siem_pack.schema import load_schema

from .conftest import ENTRIES, RULES


def test_at_least_twenty_rules_of_every_type() -> None:
    assert len(RULES) >= 20
    assert {r.type for r in RULES} >= {"query", "threshold", "new_terms", "eql"}
    assert {r.query.language for r in RULES if r.query} == {"kuery", "lucene"}


def test_every_referenced_field_is_in_the_schema(rule: Rule) -> None:
    schema = load_schema()
    missing = sorted(f for f in rule.fields() if f not in schema)
    assert not missing, f"{rule.path.name}: fields not in schema/fields.yml: {missing}"


def test_rule_ids_unique() -> None:
    ids = [r.rule_id for r in RULES]
    assert len(ids) == len(set(ids))


def test_tags_in_vocabulary(rule: Rule) -> None:
    assert check_tags(rule, load_vocabulary()) == []


def test_severity_matches_risk_score(rule: Rule) -> None:
    assert SEVERITY_RISK[rule.severity] == rule.risk_score


def test_note_has_triage_containment_and_runbook(rule: Rule) -> None:
    note = rule.body["note"]
    assert "### Triage" in note and "### Containment" in note and "docs/runbook.md#" in note
    assert rule.body["false_positives"]


def test_file_is_canonical(rule: Rule) -> None:
    text = rule.path.read_text()
    if rule.template:  # canonical once rendered with the default thresholds
        text = _env(rule.path.parent).get_template(rule.path.name).render()
    assert dumps(tomllib.loads(text)) == text, f"{rule.path.name} is not canonical (write it with siem_pack.detect.canon.dumps)"


@pytest.mark.parametrize("path", sorted((content_dir("detections") / "exceptions").glob("*.toml")), ids=lambda p: p.name)
def test_exception_file_is_canonical(path: Path) -> None:
    text = path.read_text()
    assert dumps(tomllib.loads(text)) == text


def test_fixtures_exist(rule: Rule) -> None:
    d = content_dir("detections") / "fixtures" / rule.stem
    assert (d / "hit.ndjson").is_file() and (d / "miss.ndjson").is_file(), f"fixtures missing for {rule.path.name}"


def test_every_fixture_folder_has_a_rule() -> None:
    stems = {r.stem for r in RULES}
    folders = {p.name for p in (content_dir("detections") / "fixtures").iterdir() if p.is_dir()}
    assert folders <= stems


def test_exceptions_name_known_rules_and_expire() -> None:
    ids = {r.rule_id for r in RULES}
    assert ENTRIES
    for e in ENTRIES:
        assert set(e.rule_ids) <= ids and e.expires is not None and e.reason


def test_unknown_field_is_reported_with_file_and_field(tmp_path: Path) -> None:
    src = rule_files()[0]
    text = src.read_text()
    body = tomllib.loads(text)
    body["rule"]["query"] = "user.idd: x" if body["rule"]["language"] != "lucene" else "user.idd:x"
    bad = tmp_path / src.name
    bad.write_text(dumps(body))
    with pytest.raises((ContentError, ContentErrors)) as exc:
        parse_rule(bad, bad.read_text(), load_schema())
    assert src.name in str(exc.value) and "'user.idd' is not in schema/fields.yml" in str(exc.value)


def test_all_problems_collected(tmp_path: Path) -> None:
    src = next(p for p in rule_files() if "kuery" in p.read_text())
    body = tomllib.loads(src.read_text())
    body["rule"]["risk_score"] = 50
    body["rule"]["query"] = "nosuch.field: 1"
    body["rule"]["interval"] = "5 minutes"
    bad = tmp_path / src.name
    bad.write_text(dumps(body))
    with pytest.raises(ContentErrors) as exc:
        parse_rule(bad, bad.read_text(), load_schema())
    assert len(exc.value.problems) == 3


def test_templates_render_with_baseline_thresholds() -> None:
    names = template_variables()
    assert names["large_token_request"] == ["input_tokens_max", "output_tokens_max"]
    rules = render_templates({"input_tokens_max": 77_777, "distinct_keys_per_model_30m_max": 9})
    large = next(r for r in rules if r.stem == "large_token_request")
    assert large.query is not None and "gen_ai.usage.input_tokens >= 77777 " in large.query.text  # above the floor
    coord = next(r for r in rules if r.stem == "coordinated_extraction")
    assert coord.threshold is not None and coord.threshold.cardinality_value == 9
