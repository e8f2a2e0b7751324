"""Stage 1: the ONE registry of log-format names.

Used alike by `siem-pack ingest --format`, `siem-pack pipelines test --format` and
`simulate`. Each format names its ingest pipeline (`ingest_pipelines/<pipeline_id>.yml`,
reached from the entry pipeline `siem_pack-entry`) and its sample records, of two kinds:

- our own, under `ingest_pipelines/samples/`: hand-written records in the documented vendor
  shapes, every format has some, and each has a golden ECS output
  (tests/ingest/golden/<file name>.json); the project's own tests run on these alone;
- upstream (`Sample.upstream`): public samples (Elastic's integrations, the gateways'
  documentation) in the conformance folder outside the project (SIEM_PACK_SHARED or
  ../shared), read at test time by the conformance tests, never copied.

Neighbours: the pipelines it names run on the offline executor (siem_pack.ingest.executor)
or on Elasticsearch; the differential, golden and agreement tests iterate `FORMATS`.
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

    path: relative to `ingest_pipelines/samples/` (own=True), else to the upstream fixtures folder.
    expected: Elastic's `-expected.json` beside an upstream sample, relative to the fixtures folder.
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

    @property
    def upstream(self) -> bool:
        """A public sample kept outside the project (the conformance layer), not one of ours."""
        return not self.own

    @property
    def name(self) -> str:
        """The file name: the sample's test id, and the name of its golden file."""
        return Path(self.path).name

    def file(self, fixtures_dir: Path | None = None) -> Path:
        """Where the sample is; an upstream one needs the upstream fixtures folder."""
        if self.own:
            return content_dir("ingest_pipelines") / "samples" / self.path
        if fixtures_dir is None:
            raise InputError("an upstream sample needs the upstream fixtures folder (SIEM_PACK_SHARED)",
                             where=self.path)
        return fixtures_dir / self.path

    def expected_file(self, fixtures_dir: Path) -> Path | None:
        return fixtures_dir / self.expected if self.expected else None

    def records(self, fixtures_dir: Path | None = None) -> list[str]:
        """The sample's records as one-line JSON texts (the runner's `message`); an own sample
        needs no fixtures folder."""
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

    @property
    def own_samples(self) -> tuple[Sample, ...]:
        return tuple(s for s in self.samples if s.own)

    @property
    def upstream_samples(self) -> tuple[Sample, ...]:
        return tuple(s for s in self.samples if s.upstream)


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
    """An upstream sample (conformance layer), relative to the upstream fixtures folder."""
    return Sample(path=path, expected=f"{path}-expected.json" if expected else None, auto=auto)


def _own(name: str, auto: str | None = None) -> Sample:
    """A sample of ours, under `ingest_pipelines/samples/`: the documented vendor shape with our
    own values, and the edge cases public samples lack (key actors, denials, failures)."""
    return Sample(path=name, own=True, auto=auto)


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("bedrock_invocation", "siem_pack-bedrock_invocation",
               "AWS Bedrock model invocation logs (CloudWatch Logs / S3).",
               (_own("bedrock_invocation.ndjson"),
                _own("bedrock_invocation-edge.ndjson"),
                _fx("aws_bedrock/invocation/test-aws-bedrock.log"))),
        Format("azure_openai", "siem_pack-azure_openai",
               "Azure OpenAI diagnostic logs: Audit, RequestResponse, and APIM GatewayLogs in front of it.",
               (_own("azure_openai-audit.ndjson"),
                _own("azure_openai-request_response.ndjson"),
                _own("azure_openai-gateway.ndjson"),
                _fx("azure_openai/logs/test-open-ai-audit.log", expected=True),
                _fx("azure_openai/logs/test-open-ai-request-response.log", expected=True))),
        Format("azure_ai_foundry", "siem_pack-azure_ai_foundry",
               "Azure AI Foundry diagnostic logs: Audit and APIM GatewayLogs.",
               (_own("azure_ai_foundry-audit.ndjson", auto="azure_openai"),
                _own("azure_ai_foundry-gateway.ndjson"),
                _fx("azure_ai_foundry/logs/test-ai-foundry-audit.log", expected=True, auto="azure_openai"),
                _fx("azure_ai_foundry/logs/test-ai-foundry-gateway.log"))),
        Format("vertexai_audit", "siem_pack-vertexai_audit",
               "GCP Vertex AI Cloud Audit Logs (aiplatform.googleapis.com).",
               (_own("vertexai_audit-edge.ndjson"),
                _fx("gcp_vertexai/auditlogs/test-vertexai.log", expected=True))),
        Format("openai_audit", "siem_pack-openai_audit",
               "OpenAI organisation audit logs (Admin API /organization/audit_logs).",
               (_own("openai_audit-edge.ndjson"),
                _fx("openai/audit/test-audit.log", expected=True))),
        Format("anthropic_audit", "siem_pack-anthropic_audit",
               "Anthropic Compliance API activities (organisation audit).",
               (_own("anthropic_audit-edge.ndjson"),
                _fx("anthropic/audit/test-anthropic-audit-generated.log"))),
        Format("litellm_spend", "siem_pack-litellm_spend",
               "LiteLLM proxy spend-log rows (LiteLLM_SpendLogs).",
               (_own("litellm_spend-edge.ndjson"),
                _fx("litellm/examples/spend_logs_payload.json"))),
        Format("litellm_payload", "siem_pack-litellm_payload",
               "LiteLLM StandardLoggingPayload (one per success or failure).",
               (_own("litellm_payload-edge.ndjson"),
                _fx("litellm/examples/standard_logging_payload.json"))),
        Format("kong_ai", "siem_pack-kong_ai",
               "Kong AI Gateway log-plugin records carrying the `ai` object (ai-proxy plugins).",
               (_own("kong_ai.ndjson"),
                Sample("kong_ai_gateway/examples/ai-analytics-log-fragment.txt", envelope="kong_ai-envelope.json",
                       placeholders=(("[$plugin_name_1]", "ai-proxy"), ("[$plugin_name_2]", "ai-proxy-advanced"))))),
        Format("openai_compatible", "siem_pack-openai_compatible",
               "Generic OpenAI-style JSON access log for self-hosted servers (see docs/formats.md).",
               (_own("openai_compatible.ndjson"),)),
        Format("bedrock_agentcore", "siem_pack-bedrock_agentcore",
               "AWS Bedrock AgentCore application and usage logs (runtime, gateway, code interpreter, browser).",
               (_own("bedrock_agentcore-runtime.ndjson"),
                _own("bedrock_agentcore-gateway.ndjson"),
                _own("bedrock_agentcore-code_interpreter.ndjson"),
                _own("bedrock_agentcore-browser_usage.ndjson"),
                _fx("aws_bedrock_agentcore/runtime_application_logs/test-aws-bedrock-agentcore.log", expected=True),
                _fx("aws_bedrock_agentcore/gateway_application_logs/test-aws-bedrock-agentcore-gateway.log",
                    expected=True),
                _fx("aws_bedrock_agentcore/codeinterpreter_application_logs/test-aws-bedrock-agentcore-writefiles.log",
                    expected=True),
                _fx("aws_bedrock_agentcore/browser_usage_logs/test-aws-bedrock-agentcore-browser-usage.log",
                    expected=True))),
        Format("higress_ai", "siem_pack-higress_ai",
               "Higress AI gateway (Envoy) access logs with the ai-statistics `ai_log` field.",
               (_own("higress_ai.ndjson"),
                Sample("higress_ai_gateway/examples/ai_log-default.json", envelope="higress_ai-envelope.json"),
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
