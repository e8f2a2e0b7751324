"""Stage 1: the ONE registry of log-format names.

Used alike by `siem-pack ingest --format`, `siem-pack pipelines test --format` and
`simulate`. Each format names its ingest pipeline (`ingest_pipelines/<pipeline_id>.yml`,
reached from the entry pipeline `siem_pack-entry`) and its sample records: real files under
the shared fixtures folder (read at test time, never copied) and, where no public sample
exists, a sample of our own under `ingest_pipelines/samples/`.

Neighbours: the pipelines it names run on the offline executor (siem_pack.ingest.executor)
or on Elasticsearch; the differential and agreement tests iterate `FORMATS`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..paths import content_dir

ENTRY_PIPELINE = "siem_pack-entry"
# helper pipelines every record passes through (not formats)
SHARED_PIPELINES = ("siem_pack-secrets", "siem_pack-inventory", "siem_pack-azure_diagnostics")


@dataclass(frozen=True)
class Sample:
    """One sample file of a format.

    path: relative to the shared fixtures folder, or (own=True) to `ingest_pipelines/samples/`.
    expected: Elastic's `-expected.json` beside it, relative to the fixtures folder, if any.
    envelope: for a fragment, a file under `ingest_pipelines/samples/` holding a whole record
      whose `"__FRAGMENT__"` string value is replaced by the fragment (parsed as JSON).
    auto: the format the entry pipeline recognises without a hint (None: this format).
    placeholders: (text, value) pairs filled in before parsing, for documentation samples
      that carry placeholders instead of real names (Kong's `[$plugin_name_1]`).
    """

    path: str
    expected: str | None = None
    own: bool = False
    envelope: str | None = None
    auto: str | None = None
    placeholders: tuple[tuple[str, str], ...] = ()

    def file(self, fixtures_dir: Path) -> Path:
        return (content_dir("ingest_pipelines") / "samples" / self.path) if self.own else fixtures_dir / self.path

    def expected_file(self, fixtures_dir: Path) -> Path | None:
        return fixtures_dir / self.expected if self.expected else None

    def records(self, fixtures_dir: Path) -> list[str]:
        """The sample's records as one-line JSON texts (the runner's `message`)."""
        return read_sample(self.file(fixtures_dir), self._envelope(), self.placeholders)

    def _envelope(self) -> str | None:
        if not self.envelope:
            return None
        return (content_dir("ingest_pipelines") / "samples" / self.envelope).read_text()


@dataclass(frozen=True)
class Format:
    name: str
    pipeline_id: str
    description: str
    samples: tuple[Sample, ...]

    @property
    def dataset(self) -> str:
        return f"siem_pack.{self.name}"


def read_sample(path: Path, envelope: str | None = None,
                placeholders: tuple[tuple[str, str], ...] = ()) -> list[str]:
    """Records of a sample file as one-line JSON texts: NDJSON (one object a line), one
    pretty-printed object, or a fragment (`"key": {...}` or `{"key": ...}`) whose value is put
    into `envelope` in place of `"__FRAGMENT__"`. Blank lines are skipped."""
    try:
        text = path.read_text(encoding="utf-8")
        for placeholder, value in placeholders:
            text = text.replace(placeholder, value)
        stripped = text.strip()
        if envelope is not None:
            fragment = json.loads(stripped if stripped.startswith("{") else "{" + stripped + "}")
            (_, value), = fragment.items()
            whole = json.loads(envelope)
            _replace(whole, value)
            return [json.dumps(whole, separators=(",", ":"))]
        lines = [ln for ln in stripped.splitlines() if ln.strip()]
        if len(lines) > 1:
            try:
                json.loads(lines[0])
            except json.JSONDecodeError:  # one pretty-printed object
                return [json.dumps(json.loads(stripped), separators=(",", ":"))]
        return lines
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
        raise InputError(f"cannot read sample: {exc}", where=str(path)) from exc


def _replace(node: object, value: object) -> None:
    if isinstance(node, dict):
        for k, v in node.items():
            if v == "__FRAGMENT__":
                node[k] = value
            else:
                _replace(v, value)
    elif isinstance(node, list):
        for item in node:
            _replace(item, value)


def _fx(path: str, expected: bool = False, auto: str | None = None) -> Sample:
    return Sample(path=path, expected=f"{path}-expected.json" if expected else None, auto=auto)


def _own(name: str) -> Sample:
    """A sample of ours (edge cases the public samples lack: key actors, denials, failures)."""
    return Sample(path=name, own=True)


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("bedrock_invocation", "siem_pack-bedrock_invocation",
               "AWS Bedrock model invocation logs (CloudWatch Logs / S3).",
               (_fx("aws_bedrock/invocation/test-aws-bedrock.log"),
                _own("bedrock_invocation-edge.ndjson"))),
        Format("azure_openai", "siem_pack-azure_openai",
               "Azure OpenAI diagnostic logs: Audit, RequestResponse, and APIM GatewayLogs in front of it.",
               (_fx("azure_openai/logs/test-open-ai-audit.log", expected=True),
                _fx("azure_openai/logs/test-open-ai-request-response.log", expected=True))),
        Format("azure_ai_foundry", "siem_pack-azure_ai_foundry",
               "Azure AI Foundry diagnostic logs: Audit and APIM GatewayLogs.",
               (_fx("azure_ai_foundry/logs/test-ai-foundry-audit.log", expected=True, auto="azure_openai"),
                _fx("azure_ai_foundry/logs/test-ai-foundry-gateway.log"))),
        Format("vertexai_audit", "siem_pack-vertexai_audit",
               "GCP Vertex AI Cloud Audit Logs (aiplatform.googleapis.com).",
               (_fx("gcp_vertexai/auditlogs/test-vertexai.log", expected=True),
                _own("vertexai_audit-edge.ndjson"))),
        Format("openai_audit", "siem_pack-openai_audit",
               "OpenAI organisation audit logs (Admin API /organization/audit_logs).",
               (_fx("openai/audit/test-audit.log", expected=True),
                _own("openai_audit-edge.ndjson"))),
        Format("anthropic_audit", "siem_pack-anthropic_audit",
               "Anthropic Compliance API activities (organisation audit).",
               (_fx("anthropic/audit/test-anthropic-audit-generated.log"),
                _own("anthropic_audit-edge.ndjson"))),
        Format("litellm_spend", "siem_pack-litellm_spend",
               "LiteLLM proxy spend-log rows (LiteLLM_SpendLogs).",
               (_fx("litellm/examples/spend_logs_payload.json"),
                _own("litellm_spend-edge.ndjson"))),
        Format("litellm_payload", "siem_pack-litellm_payload",
               "LiteLLM StandardLoggingPayload (one per success or failure).",
               (_fx("litellm/examples/standard_logging_payload.json"),
                _own("litellm_payload-edge.ndjson"))),
        Format("kong_ai", "siem_pack-kong_ai",
               "Kong AI Gateway log-plugin records carrying the `ai` object (ai-proxy plugins).",
               (Sample("kong_ai_gateway/examples/ai-analytics-log-fragment.txt", envelope="kong_ai-envelope.json",
                       placeholders=(("[$plugin_name_1]", "ai-proxy"), ("[$plugin_name_2]", "ai-proxy-advanced"))),)),
        Format("openai_compatible", "siem_pack-openai_compatible",
               "Generic OpenAI-style JSON access log for self-hosted servers (see docs/formats.md).",
               (_own("openai_compatible.ndjson"),)),
        Format("bedrock_agentcore", "siem_pack-bedrock_agentcore",
               "AWS Bedrock AgentCore application and usage logs (runtime, gateway, code interpreter, browser).",
               (_fx("aws_bedrock_agentcore/runtime_application_logs/test-aws-bedrock-agentcore.log", expected=True),
                _fx("aws_bedrock_agentcore/gateway_application_logs/test-aws-bedrock-agentcore-gateway.log",
                    expected=True),
                _fx("aws_bedrock_agentcore/codeinterpreter_application_logs/test-aws-bedrock-agentcore-writefiles.log",
                    expected=True),
                _fx("aws_bedrock_agentcore/browser_usage_logs/test-aws-bedrock-agentcore-browser-usage.log",
                    expected=True))),
        Format("higress_ai", "siem_pack-higress_ai",
               "Higress AI gateway (Envoy) access logs with the ai-statistics `ai_log` field.",
               (Sample("higress_ai_gateway/examples/ai_log-default.json", envelope="higress_ai-envelope.json"),
                Sample("higress_ai_gateway/examples/ai_log-bailian-attributes.json",
                       envelope="higress_ai-envelope.json"))),
    )
}


def get_format(name: str, where: str = "--format") -> Format:
    """A format by name; an unknown name lists the known ones."""
    try:
        return FORMATS[name]
    except KeyError:
        raise InputError(f"unknown format {name!r}; known: auto, {', '.join(sorted(FORMATS))}", where=where) from None
