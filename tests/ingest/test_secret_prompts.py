"""Passwords and connection strings in prompts never survive `--keep-content truncated`: the
`password` and `connection_string` detectors redact them before the prompt is cut and kept,
on the offline executor and on the real OpenSearch node alike; the AWS documentation's example
key is still recognised by its own detector, not swallowed by the password one."""

from __future__ import annotations

import json
from typing import Any

import pytest

from siem_pack.ingest.formats import ENTRY_PIPELINE
from siem_pack.ingest.pipeline import PipelineSet

LEAKS = {
    "password": ("password=Wint3r-Is-C0ming-2026!", "Wint3r-Is-C0ming-2026!"),
    "password-json": ('connect with {"password": "Sup3r$ecretValue"} now', "Sup3r$ecretValue"),
    "password-ado": ("Server=sql01;User Id=sa;Password=Hunt3rHunt3r42;", "Hunt3rHunt3r42"),
    "connection_string": ("use mongodb+srv://reporter:Mong0Passw0rd77@cluster0.example.net/db", "Mong0Passw0rd77"),
}


def _record(prompt: str) -> str:
    """A LiteLLM payload whose user message carries `prompt` (the first prompt-like string)."""
    return json.dumps({
        "id": "chatcmpl-secret-prompt", "call_type": "acompletion", "status": "success",
        "startTime": 1741079702.0, "endTime": 1741079703.2, "model": "gpt-4o", "model_group": "gpt-4o",
        "metadata": {"user_api_key_hash": "88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b",
                     "user_api_key_alias": "analyst-laptop", "user_api_key_user_id": "amartin"},
        "messages": [{"role": "user", "content": prompt}], "prompt_tokens": 40, "completion_tokens": 10,
        "total_tokens": 50, "response": {"choices": [{"message": {"content": "ok"}}]},
    })


def _hint(text: str) -> dict[str, Any]:
    return {"message": text, "siem_pack": {"format": "litellm_payload", "content_mode": "truncated"}}


@pytest.mark.parametrize("case", sorted(LEAKS))
def test_truncated_prompt_keeps_no_password(pipelines: PipelineSet, case: str) -> None:
    prompt, secret = LEAKS[case]
    out = pipelines.executor.run(ENTRY_PIPELINE, _hint(_record(prompt)))
    assert out.error is None, out.error
    whole = json.dumps(out.doc)
    assert secret not in whole, whole
    kept = out.doc["siem_pack"]["content"]["prompt"]
    detector = case.split("-")[0]
    assert f"[REDACTED:{detector}]" in kept, kept
    assert detector in out.doc["siem_pack"]["secrets"]["detectors"]


def test_the_aws_example_key_is_still_an_aws_key(pipelines: PipelineSet) -> None:
    out = pipelines.executor.run(ENTRY_PIPELINE, _hint(_record("my key is Password=AKIAIOSFODNN7EXAMPLE ok")))
    assert out.error is None, out.error
    assert out.doc["siem_pack"]["secrets"]["detectors"] == ["aws_access_key_id"]
    assert "Password=[REDACTED:aws_access_key_id]" in out.doc["siem_pack"]["content"]["prompt"]


@pytest.mark.opensearch
def test_opensearch_redacts_the_same(pipelines: PipelineSet, remote_pipelines: str, opensearch: Any) -> None:
    cases = sorted(LEAKS.items())
    docs = [_hint(_record(prompt)) for _, (prompt, _) in cases]
    pipeline = {"processors": [{"pipeline": {"name": f"{remote_pipelines}{ENTRY_PIPELINE}"}}]}
    res = opensearch.simulate(pipeline, docs)
    for (case, (_, secret)), doc, got in zip(cases, docs, res["docs"], strict=True):
        assert "error" not in got, (case, got)
        ours = pipelines.executor.run(ENTRY_PIPELINE, doc).doc
        theirs = got["doc"]["_source"]
        assert secret not in json.dumps(theirs), case
        assert theirs["siem_pack"]["content"] == ours["siem_pack"]["content"], case
        assert theirs["siem_pack"]["secrets"] == ours["siem_pack"]["secrets"], case
