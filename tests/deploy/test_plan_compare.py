"""How plan compares a body of ours with the installed one, without a cluster: what the
server adds is not drift, a key added by hand is (Elasticsearch objects), settings compare
flattened, and Kibana objects are read on our keys only. The real node's answers are in
test_drift_and_data.py; these cover what that node cannot run (ILM, data streams)."""

from __future__ import annotations

from typing import Any

import pytest

from siem_pack.deploy.bundle import Bundle, DeployObject, _marked
from siem_pack.deploy.plan import compare, index_settings, judge

ILM_OURS = {"policy": {"phases": {"hot": {"actions": {"rollover": {"max_age": "30d"}}},
                                  "delete": {"min_age": "365d", "actions": {"delete": {}}}}}}
# what GET _ilm/policy answers for it (min_age and delete_searchable_snapshot are the server's)
ILM_INSTALLED = {"policy": {"phases": {"hot": {"min_age": "0ms", "actions": {"rollover": {"max_age": "30d"}}},
                                       "delete": {"min_age": "365d",
                                                  "actions": {"delete": {"delete_searchable_snapshot": True}}}}}}


def test_what_elasticsearch_adds_to_an_ilm_policy_is_not_drift() -> None:
    assert compare(ILM_OURS, ILM_INSTALLED, "ilm_policy") == ([], [])


def test_a_hand_added_ilm_phase_is_drift() -> None:
    hand: dict[str, Any] = {"policy": {"phases": {**ILM_INSTALLED["policy"]["phases"],
                                                  "warm": {"min_age": "7d", "actions": {"readonly": {}}}}}}
    changed, foreign = compare(ILM_OURS, hand, "ilm_policy")
    assert changed == []
    assert [(f.path, f.value) for f in foreign] == [("policy.phases.warm.actions.readonly", {}),
                                                    ("policy.phases.warm.min_age", "7d")]


def test_data_stream_defaults_are_not_drift_but_hidden_true_is() -> None:
    ours = {"index_patterns": ["logs-x-*"], "data_stream": {}}
    installed = {**ours, "data_stream": {"hidden": False, "allow_custom_routing": False},
                 "created_date_millis": 1, "modified_date_millis": 2}
    assert compare(ours, installed, "index_template") == ([], [])
    changed, foreign = compare(ours, {**ours, "data_stream": {"hidden": True}}, "index_template")
    assert [(f.path, f.value) for f in foreign] == [("data_stream.hidden", True)]


@pytest.mark.parametrize("ours", [{"index.default_pipeline": "p"}, {"index": {"default_pipeline": "p"}},
                                  {"default_pipeline": "p"}], ids=["dotted", "nested", "short"])
def test_settings_compare_flattened_whatever_their_shape(ours: dict[str, Any]) -> None:
    installed = {"template": {"settings": {"index": {"default_pipeline": "p", "number_of_replicas": "2"}}}}
    changed, foreign = compare({"template": {"settings": ours}}, installed, "index_template")
    assert changed == []
    assert [(f.path, f.value) for f in foreign] == [("template.settings.index.number_of_replicas", "2")]


def test_a_mapping_field_called_id_is_compared() -> None:  # `id` is ignored on Kibana rules only
    ours = {"template": {"mappings": {"properties": {"id": {"type": "keyword"}}}}}
    hand = {"template": {"mappings": {"properties": {"id": {"type": "text"}}}}}
    assert compare(ours, hand, "component_template")[0] == ['template.mappings.properties.id.type: "text" → "keyword"']


def test_an_extra_list_item_is_foreign_wherever_it_was_inserted() -> None:
    ours = {"processors": [{"set": {"field": "a"}}, {"set": {"field": "b"}}]}
    hand = {"processors": [{"set": {"field": "a"}}, {"remove": {"field": "x"}}, {"set": {"field": "b"}}]}
    changed, foreign = compare(ours, hand, "ingest_pipeline")
    assert changed == [] and [(f.path, f.value) for f in foreign] == [("processors[1]", {"remove": {"field": "x"}})]
    shorter = {"processors": [{"set": {"field": "a"}}]}
    assert compare(ours, shorter, "ingest_pipeline")[0] == [  # a missing item: the whole list
        'processors: [{"set": {"field": "a"}}] → [{"set": {"field": "a"}}, {"set": {"field": "b"}}]']


def test_kibana_objects_are_read_on_our_keys_only() -> None:
    rule = DeployObject("rule", "r1", {"rule_id": "r1", "severity": "high", "meta": {"siem_pack": {}}})
    marked = {**rule.body, "meta": {"siem_pack": {"content_hash": rule.hash}}}
    installed = {**marked, "id": "uuid", "enabled": True, "revision": 3, "risk_score_mapping": []}
    assert judge(rule, installed).action == "unchanged"


def test_an_index_keeps_the_settings_its_template_gives_it() -> None:
    tmpl = DeployObject("index_template", "t", _marked({"index_patterns": ["ev-*"], "priority": 200,
                                                        "template": {"settings": {"index.default_pipeline": "p"}}},
                                                       "_meta"))
    index = DeployObject("index", "ev-000001", {"aliases": {"ev": {"is_write_index": True}}})
    bundle = Bundle([tmpl, index], [])
    assert index_settings(bundle, "ev-000001") == {"index.default_pipeline": "p"}
    server = {"index": {"creation_date": "1", "uuid": "u", "provided_name": "ev-000001", "number_of_shards": "1",
                        "number_of_replicas": "1", "version": {"created": "9"}, "default_pipeline": "p",
                        "routing": {"allocation": {"include": {"_tier_preference": "data_content"}}}}}
    assert judge(index, {"settings": server}, index_settings(bundle, index.name)).action == "unchanged"
    hand = {"index": {**server["index"], "number_of_replicas": "0", "default_pipeline": "other"}}
    change = judge(index, {"settings": hand}, index_settings(bundle, index.name))
    assert change.action == "drifted"
    assert change.diff == ['settings.index.default_pipeline: "other" → "p"',
                           "+ settings.index.number_of_replicas = 0 (not in the bundle; deploy resets it to the default)"]
    assert change.patch == {"index.number_of_replicas": None, "index.default_pipeline": "p"}
