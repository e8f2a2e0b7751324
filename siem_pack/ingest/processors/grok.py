"""Stage 1 → 2: the `grok` processor for the offline executor (listed in registry.py), with the legacy pattern bank Elasticsearch and
OpenSearch ship (the names our pipelines may use; more can be given per processor with
`pattern_definitions`). Grok expressions become one Python regex each, compiled at load.
"""

from __future__ import annotations

import re
from typing import Any

from ...errors import ContentError
from .base import Build, Conf, IngestDoc, ProcessorFailure, Run
from .convert import _float32
from .paths import set_field, string_value

_IPV4_OCT = r"(?:[0-1]?[0-9]{1,2}|2[0-4][0-9]|25[0-5])"
_V4 = r"(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}"
_H = r"[0-9A-Fa-f]{1,4}"

# The legacy bank (logstash-patterns-core "grok-patterns"), the subset a gateway log needs.
BANK: dict[str, str] = {
    "USERNAME": r"[a-zA-Z0-9._-]+",
    "USER": r"%{USERNAME}",
    "EMAILLOCALPART": r"[a-zA-Z0-9!#$%&'*+\-/=?^_`{|}~]{1,64}(?:\.[a-zA-Z0-9!#$%&'*+\-/=?^_`{|}~]{1,62}){0,63}",
    "EMAILADDRESS": r"%{EMAILLOCALPART}@%{HOSTNAME}",
    "INT": r"(?:[+-]?(?:[0-9]+))",
    "BASE10NUM": r"(?<![0-9.+-])(?>[+-]?(?:(?:[0-9]+(?:\.[0-9]+)?)|(?:\.[0-9]+)))",
    "NUMBER": r"(?:%{BASE10NUM})",
    "BASE16NUM": r"(?<![0-9A-Fa-f])(?:[+-]?(?:0x)?(?:[0-9A-Fa-f]+))",
    "POSINT": r"\b(?:[1-9][0-9]*)\b",
    "NONNEGINT": r"\b(?:[0-9]+)\b",
    "WORD": r"\b\w+\b",
    "NOTSPACE": r"\S+",
    "SPACE": r"\s*",
    "DATA": r".*?",
    "GREEDYDATA": r".*",
    "QUOTEDSTRING": r"(?>(?<!\\)(?>\"(?>\\.|[^\\\"]+)+\"|\"\"|(?>'(?>\\.|[^\\']+)+')|''|(?>`(?>\\.|[^\\`]+)+`)|``))",
    "UUID": r"[A-Fa-f0-9]{8}-(?:[A-Fa-f0-9]{4}-){3}[A-Fa-f0-9]{12}",
    "IPV6": (
        rf"((({_H}:){{7}}({_H}|:))|(({_H}:){{6}}(:{_H}|{_V4}|:))|(({_H}:){{5}}(((:{_H}){{1,2}})|:{_V4}|:))|"
        rf"(({_H}:){{4}}(((:{_H}){{1,3}})|((:{_H})?:{_V4})|:))|(({_H}:){{3}}(((:{_H}){{1,4}})|((:{_H}){{0,2}}:{_V4})|:))|"
        rf"(({_H}:){{2}}(((:{_H}){{1,5}})|((:{_H}){{0,3}}:{_V4})|:))|(({_H}:){{1}}(((:{_H}){{1,6}})|((:{_H}){{0,4}}:{_V4})|:))|"
        rf"(:(((:{_H}){{1,7}})|((:{_H}){{0,5}}:{_V4})|:)))(%.+)?"
    ),
    "IPV4": rf"(?<![0-9])(?:{_IPV4_OCT}[.]{_IPV4_OCT}[.]{_IPV4_OCT}[.]{_IPV4_OCT})(?![0-9])",
    "IP": r"(?:%{IPV6}|%{IPV4})",
    "HOSTNAME": r"\b(?:[0-9A-Za-z][0-9A-Za-z-]{0,62})(?:\.(?:[0-9A-Za-z][0-9A-Za-z-]{0,62}))*(\.?|\b)",
    "IPORHOST": r"(?:%{IP}|%{HOSTNAME})",
    "HOSTPORT": r"%{IPORHOST}:%{POSINT}",
    "PATH": r"(?:%{UNIXPATH}|%{WINPATH})",
    "UNIXPATH": r"(/([\w_%!$@:.,+~-]+|\\.)*)+",
    "WINPATH": r"(?>[A-Za-z]+:|\\)(?:\\[^\\?*]*)+",
    "URIPROTO": r"[A-Za-z]([A-Za-z0-9+\-.]+)+",
    "URIHOST": r"%{IPORHOST}(?::%{POSINT})?",
    "URIPATH": r"(?:/[A-Za-z0-9$.+!*'(){},~:;=@#%&_\-]*)+",
    "URIQUERY": r"[A-Za-z0-9$.+!*'|(){},~@#%&/=:;_?\-\[\]<>]*",
    "URIPARAM": r"\?%{URIQUERY}",
    "URIPATHPARAM": r"%{URIPATH}(?:%{URIPARAM})?",
    "URI": r"%{URIPROTO}://(?:%{USER}(?::[^@]*)?@)?(?:%{URIHOST})?(?:%{URIPATH}(?:%{URIPARAM})?)?",
    "MONTH": r"\b(?:[Jj]an(?:uary|uar)?|[Ff]eb(?:ruary|ruar)?|[Mm](?:a|ä)?r(?:ch|z)?|[Aa]pr(?:il)?|[Mm]a(?:y|i)?|"
             r"[Jj]un(?:e|i)?|[Jj]ul(?:y|i)?|[Aa]ug(?:ust)?|[Ss]ep(?:tember)?|[Oo](?:c|k)?t(?:ober)?|[Nn]ov(?:ember)?|"
             r"[Dd]e(?:c|z)(?:ember)?)\b",
    "MONTHNUM": r"(?:0?[1-9]|1[0-2])",
    "MONTHDAY": r"(?:(?:0[1-9])|(?:[12][0-9])|(?:3[01])|[1-9])",
    "DAY": r"(?:Mon(?:day)?|Tue(?:sday)?|Wed(?:nesday)?|Thu(?:rsday)?|Fri(?:day)?|Sat(?:urday)?|Sun(?:day)?)",
    "YEAR": r"(?>\d\d){1,2}",
    "HOUR": r"(?:2[0123]|[01]?[0-9])",
    "MINUTE": r"(?:[0-5][0-9])",
    "SECOND": r"(?:(?:[0-5]?[0-9]|60)(?:[:.,][0-9]+)?)",
    "TIME": r"(?!<[0-9])%{HOUR}:%{MINUTE}(?::%{SECOND})(?![0-9])",
    "ISO8601_TIMEZONE": r"(?:Z|[+-]%{HOUR}(?::?%{MINUTE}))",
    "TIMESTAMP_ISO8601": r"%{YEAR}-%{MONTHNUM}-%{MONTHDAY}[T ]%{HOUR}:?%{MINUTE}(?::?%{SECOND})?%{ISO8601_TIMEZONE}?",
    "HTTPDATE": r"%{MONTHDAY}/%{MONTH}/%{YEAR}:%{TIME} %{INT}",
    "LOGLEVEL": r"([Aa]lert|ALERT|[Tt]race|TRACE|[Dd]ebug|DEBUG|[Nn]otice|NOTICE|[Ii]nfo?(?:rmation)?|INFO?(?:RMATION)?|"
                r"[Ww]arn?(?:ing)?|WARN?(?:ING)?|[Ee]rr?(?:or)?|ERR?(?:OR)?|[Cc]rit?(?:ical)?|CRIT?(?:ICAL)?|"
                r"[Ff]atal|FATAL|[Ss]evere|SEVERE|EMERG(?:ENCY)?|[Ee]merg(?:ency)?)",
}

_REF = re.compile(r"%\{(\w+)(?::([\w.@\[\]-]+))?(?::(int|long|float|double|boolean|string))?\}")
_NAMED = re.compile(r"\(\?<([A-Za-z][\w.@-]*)>")
TYPES = {"int": int, "long": int, "float": float, "double": float}


class _Expander:
    def __init__(self, bank: dict[str, str], where: str) -> None:
        self.bank, self.where = bank, where
        self.captures: list[tuple[str, str | None]] = []  # group index -> (field, type)

    def expand(self, pattern: str, depth: int = 0) -> str:
        if depth > 50:
            raise ContentError("grok pattern recursion too deep (a pattern refers to itself?)", where=self.where)

        def named(m: re.Match[str]) -> str:
            self.captures.append((m.group(1), None))
            return f"(?P<g{len(self.captures) - 1}>"
        pattern = _NAMED.sub(named, pattern)

        def ref(m: re.Match[str]) -> str:
            name, field, ftype = m.group(1), m.group(2), m.group(3)
            if name not in self.bank:
                raise ContentError(f"Unable to find pattern [{name}] in Grok's pattern dictionary; known: "
                                   f"{', '.join(sorted(self.bank))}", where=self.where)
            inner = self.expand(self.bank[name], depth + 1)
            if field:
                self.captures.append((field, ftype))
                return f"(?P<g{len(self.captures) - 1}>{inner})"
            return f"(?:{inner})"
        return _REF.sub(ref, pattern)


def _typed(value: str, ftype: str | None) -> Any:
    if ftype in ("int", "long"):
        try:
            return int(value)
        except ValueError:
            raise ProcessorFailure(f'For input string: "{value}"') from None
    if ftype in ("float", "double"):
        try:
            v = float(value)
        except ValueError:
            raise ProcessorFailure(f'For input string: "{value}"') from None
        if ftype == "float":

            return _float32(v)
        return v
    if ftype == "boolean":
        return value.lower() == "true"
    return value


def grok_processor(c: Conf, b: Build) -> Run:
    field = c.str("field", required=True)
    patterns = c.str_list("patterns", required=True)
    extra = c.any("pattern_definitions", {}) or {}
    ignore_missing = c.bool("ignore_missing")
    trace = c.bool("trace_match")
    c.done()
    bank = {**BANK, **extra}
    compiled: list[tuple[re.Pattern[str], list[tuple[str, str | None]]]] = []
    for p in patterns:
        ex = _Expander(bank, c.where)
        src = ex.expand(p)
        try:
            compiled.append((re.compile(src), ex.captures))
        except re.error as exc:
            raise ContentError(f"grok pattern {p!r} is not a valid regex here: {exc}", where=c.where) from None

    def run(doc: IngestDoc) -> None:
        v = string_value(doc, field, ignore_missing)
        if v is None:
            return
        for i, (rx, caps) in enumerate(compiled):
            m = rx.search(v)
            if not m:
                continue
            seen: set[str] = set()
            for gi, (name, ftype) in enumerate(caps):
                val = m.group(f"g{gi}")
                if val is None or name in seen:
                    continue
                seen.add(name)
                set_field(doc, name, _typed(val, ftype))
            if trace:
                doc.ingest["_grok_match_index"] = str(i)
            return
        raise ProcessorFailure(f"Provided Grok expressions do not match field value: [{v}]")
    return run
