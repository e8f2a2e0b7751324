"""Stage 1 → 2: the ingest processors the offline executor runs, with Elasticsearch's
(and OpenSearch's, our reference engine's) semantics, messages included.

`PROCESSORS` is the registry (registry.py): processor name → factory. A factory takes the
processor's options (a `Conf`, from which it pops what it knows) and a `Build` context,
validates them at load time, and returns a closure `run(doc)` that mutates an `IngestDoc`.

The package, by family:
- base.py: `IngestDoc`, `ProcessorFailure`, `Dropped`, `Conf`, `Build`, `Factory`, `Run`;
- render.py: Java-flavoured values (`java_str`, `java_double`, `java_type`, `java_equals`);
- paths.py: field paths (`get_field`, `set_field`, `append_field`, ...);
- mustache.py: templated options; regex.py: Java regexes and the gsub prefilter;
- fields.py (set, rename, remove, append, dot_expander), convert.py (convert, bytes),
  dates.py (date), parse.py (json, dissect, kv, csv), strings.py (lowercase, uppercase,
  trim, urldecode, gsub, split, join), flow.py (foreach, pipeline, drop, fail), grok.py
  (grok and its pattern bank);
- registry.py: `PROCESSORS`, and `processor`/`register` for processors defined elsewhere
  (siem_pack.ingest.geoip).

Neighbours: siem_pack.ingest.pipeline (loads and validates files), siem_pack.ingest.executor
(calls each closure from generated code that applies `if`, `ignore_failure`, `on_failure`,
and runs pipelines), siem_pack.ingest.painless (conditions).
"""

from __future__ import annotations

from .base import Build, Conf, Dropped, Factory, IngestDoc, ProcessorFailure, Run
from .dates import DateParser, date_parser, format_date
from .fields import SetPath
from .mustache import Template, compile_template, compile_value
from .paths import (
    append_field,
    get_field,
    has_field,
    peek_field,
    remove_field,
    set_field,
    string_value,
    value_for,
)
from .regex import (
    gsub_prefilter,
    java_regex,
    java_replacement,
    java_split,
    lowered,
    prefiltered_sub,
    required_literals,
)
from .registry import PROCESSORS, processor, register
from .render import java_double, java_equals, java_str, java_type

__all__ = [
    "PROCESSORS",
    "Build",
    "Conf",
    "DateParser",
    "Dropped",
    "Factory",
    "IngestDoc",
    "ProcessorFailure",
    "Run",
    "SetPath",
    "Template",
    "append_field",
    "compile_template",
    "compile_value",
    "date_parser",
    "format_date",
    "get_field",
    "gsub_prefilter",
    "has_field",
    "java_double",
    "java_equals",
    "java_regex",
    "java_replacement",
    "java_split",
    "java_str",
    "java_type",
    "lowered",
    "peek_field",
    "prefiltered_sub",
    "processor",
    "register",
    "remove_field",
    "required_literals",
    "set_field",
    "string_value",
    "value_for",
]
