"""Stage 1 → 2: the registry of the offline executor's ingest processors: processor name (as
pipelines write it) → factory. Every processor of this package is listed here, by family;
nothing registers itself on import. Only processors both Elasticsearch and OpenSearch share.

The one processor defined outside the package adds itself with `register`
(siem_pack.ingest.geoip, imported by siem_pack.ingest's __init__, PROCESSOR_MODULES). siem_pack.ingest.executor looks factories up here.
"""

from __future__ import annotations

from collections.abc import Callable

from . import convert, dates, fields, flow, grok, parse, strings
from .base import Factory

PROCESSORS: dict[str, Factory] = {
    "set": fields.set_processor,
    "rename": fields.rename_processor,
    "remove": fields.remove_processor,
    "append": fields.append_processor,
    "convert": convert.convert_processor,
    "date": dates.date_processor,
    "json": parse.json_processor,
    "lowercase": strings.lowercase_processor,
    "uppercase": strings.uppercase_processor,
    "trim": strings.trim_processor,
    "urldecode": strings.urldecode_processor,
    "gsub": strings.gsub_processor,
    "split": strings.split_processor,
    "join": strings.join_processor,
    "dissect": parse.dissect_processor,
    "kv": parse.kv_processor,
    "dot_expander": fields.dot_expander_processor,
    "foreach": flow.foreach_processor,
    "pipeline": flow.pipeline_processor,
    "drop": flow.drop_processor,
    "fail": flow.fail_processor,
    "bytes": convert.bytes_processor,
    "csv": parse.csv_processor,
    "grok": grok.grok_processor,
}


def processor(name: str) -> Callable[[Factory], Factory]:
    def deco(fn: Factory) -> Factory:
        PROCESSORS[name] = fn
        return fn
    return deco


def register(name: str, factory: Factory) -> None:
    """For processors defined elsewhere (siem_pack.ingest.geoip registers `geoip`)."""
    PROCESSORS[name] = factory
