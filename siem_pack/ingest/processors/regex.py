"""Stage 1 → 2: Java regexes in Python for the offline executor: translation (`java_regex`),
`String.split`, `Matcher.replaceAll` replacement strings, and the required-literal prefilter
that lets a regex skip text it cannot match (the secret detectors' gsubs).

Neighbours: strings.py (gsub, split), parse.py (kv), siem_pack.ingest.executor (runs of
gsubs, `gsub_prefilter`), siem_pack.ingest.reader (line filters).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ...errors import ContentError


def java_regex(pattern: str, where: str) -> re.Pattern[str]:
    """A Java regex (the subset Python shares: named groups `(?<n>...)` are translated).
    Compiled with re.ASCII: Java's \\w, \\d, \\b and (?i) are ASCII-only by default."""
    py = re.sub(r"\(\?<([A-Za-z][A-Za-z0-9]*)>", r"(?P<\1>", pattern)
    py = py.replace(r"\p{Alpha}", "[A-Za-z]").replace(r"\p{Digit}", "[0-9]").replace(r"\p{Alnum}", "[A-Za-z0-9]")
    try:
        return re.compile(py, re.ASCII)
    except re.error as exc:
        raise ContentError(f"invalid or unsupported regex {pattern!r}: {exc}", where=where) from None


def required_literals(rx: re.Pattern[str]) -> tuple[tuple[str, ...], bool] | None:
    """Literals one of which every match must start with (after zero-width assertions such
    as \\b), and whether they compare case-insensitively; None when there are none. Used to
    skip a regex over text that cannot match: `x in text` is far cheaper than a scan."""
    try:
        from re import _parser as sre  # type: ignore[attr-defined]
    except ImportError:  # pragma: no cover
        return None
    try:
        tree = sre.parse(rx.pattern, rx.flags)
    except Exception:  # noqa: BLE001
        return None
    icase = bool(tree.state.flags & re.IGNORECASE)
    items = list(tree)
    while items and str(items[0][0]) == "AT":
        items.pop(0)

    def literal_run(seq: list[Any]) -> str:
        out = []
        for op, av in seq:
            if str(op) != "LITERAL":
                break
            out.append(chr(av))
        return "".join(out)
    if not items:
        return None  # only zero-width assertions
    op, av = items[0]
    if str(op) == "BRANCH":  # a non-capturing alternation is inlined
        items = [(sre.SUBPATTERN, (None, 0, 0, sre.SubPattern(tree.state, [items[0]])))]
        op, av = items[0]
    if str(op) == "LITERAL":
        lit = literal_run(items)
        return ((lit.lower() if icase else lit,), icase) if len(lit) >= 2 else _prefix_set(tree, sre)
    if str(op) == "SUBPATTERN":
        add_flags = av[1]
        sub = list(av[-1])
        if add_flags & re.IGNORECASE:
            icase = True
        if len(sub) == 1 and str(sub[0][0]) == "BRANCH":
            lits = []
            for branch in sub[0][1][1]:
                lit = literal_run(list(branch))
                if len(lit) < 2:
                    return _prefix_set(tree, sre)
                lits.append(lit.lower() if icase else lit)
            return tuple(lits), icase
        lit = literal_run(sub)
        return ((lit.lower() if icase else lit,), icase) if len(lit) >= 2 else _prefix_set(tree, sre)
    return _prefix_set(tree, sre)


def _prefix_set(tree: Any, sre: Any) -> tuple[tuple[str, ...], bool] | None:
    """The fallback of required_literals: a small set of strings one of which every match
    starts with, walking literals, small literal classes (`[KS]`) and alternations
    (`(?:AKIA|ASIA)`, which the parser factors into `A[KS]IA`). Case-insensitive when any
    part is (a weaker check, still exact as a prefilter)."""
    icase = bool(tree.state.flags & re.IGNORECASE)

    def walk(items: list[Any]) -> tuple[set[str], bool] | None:
        nonlocal icase
        out = {""}
        for op, av in items:
            name = str(op)
            if name == "AT" and out == {""}:
                continue  # \b, ^ before anything: zero-width
            if name == "LITERAL":
                out = {p + chr(av) for p in out}
                continue
            grown = _class_prefixes(out, av) if name == "IN" else None
            if grown is not None:
                out = grown
                continue
            if name not in ("BRANCH", "SUBPATTERN"):
                break  # anything else ends the known prefix (what was collected stays required)
            if name == "SUBPATTERN" and av[1] & re.IGNORECASE:
                icase = True
            union = _union_of(walk, [list(av[-1])] if name == "SUBPATTERN" else [list(b) for b in av[1]])
            if union is None:
                return None
            if len(out) * len(union) <= 64:
                out = {p + a for p in out for a in union}
            break  # a group ends the known prefix too
        return out, icase

    found = walk(list(tree))
    if found is None or min((len(x) for x in found[0]), default=0) < 2:
        return None
    lits = tuple(sorted(x.lower() if icase else x for x in found[0]))
    return lits, icase


def _class_prefixes(out: set[str], av: Any) -> set[str] | None:
    """The prefixes grown by a small class of literals (`[KS]`), or None for any other class."""
    if all(str(o) == "LITERAL" for o, _ in av) and len(out) * len(av) <= 64:
        return {p + chr(c) for p in out for _, c in av}
    return None


def _union_of(walk: Callable[[list[Any]], tuple[set[str], bool] | None], alts: list[list[Any]]) -> set[str] | None:
    """Every prefix any alternative starts with (None when one has no known prefix)."""
    union: set[str] = set()
    for alt in alts:
        sub = walk(alt)
        if sub is None:
            return None
        union |= sub[0]
    return union


def gsub_prefilter(conf: Any) -> tuple[str, tuple[str, ...], tuple[str, ...]] | None:
    """For an unconditional in-place `gsub` whose regex has required literals (see
    prefiltered_sub): (field, case-sensitive literals, lower-cased case-insensitive ones).
    When none is in the field's string, the processor changes nothing: a run of such gsubs on
    one field (the secret detectors) is skipped with one check (executor._gsub_runs)."""
    if not isinstance(conf, dict) or set(conf) - {"field", "pattern", "replacement", "ignore_missing", "tag",
                                                  "description", "ignore_failure"}:
        return None
    field, pattern = conf.get("field"), conf.get("pattern")
    if not isinstance(field, str) or not isinstance(pattern, str) or not isinstance(conf.get("replacement"), str):
        return None
    try:
        req = required_literals(java_regex(pattern, ""))
    except ContentError:
        return None
    if req is None:
        return None
    lits, icase = req
    return (field, (), lits) if icase else (field, lits, ())


_LOWERED: list[str] = ["", ""]  # the last text lowercased, and its lowercase


def lowered(text: str) -> str:
    """`text.lower()`, remembered for the last text: consecutive gsubs (the secret
    detectors) scan the same string. Keyed by identity, and the text is held, so exact."""
    if _LOWERED[0] is not text:
        _LOWERED[0], _LOWERED[1] = text, text.lower()
    return _LOWERED[1]


def prefiltered_sub(rx: re.Pattern[str], rep: Any) -> Callable[[str], str]:
    """`rx.sub(rep, text)`, skipping the scan when a required literal is absent."""
    req = required_literals(rx)
    if req is None:
        return lambda text: rx.sub(rep, text)
    lits, icase = req

    def sub(text: str) -> str:
        hay = lowered(text) if icase else text
        for lit in lits:
            if lit in hay:
                return rx.sub(rep, text)
        return text
    return sub


def java_replacement(rep: str) -> Callable[[re.Match[str]], str]:
    parts: list[tuple[int, str]] = []  # (0 literal | 1 group), text
    i = 0
    while i < len(rep):
        ch = rep[i]
        if ch == "\\" and i + 1 < len(rep):
            parts.append((0, rep[i + 1]))
            i += 2
        elif ch == "$" and i + 1 < len(rep) and rep[i + 1] == "{":
            end = rep.index("}", i)
            parts.append((1, rep[i + 2:end]))
            i = end + 1
        elif ch == "$" and i + 1 < len(rep) and rep[i + 1].isdigit():
            j = i + 1
            while j < len(rep) and rep[j].isdigit():
                j += 1
            parts.append((1, rep[i + 1:j]))
            i = j
        else:
            parts.append((0, ch))
            i += 1

    def fn(m: re.Match[str]) -> str:
        out = []
        for kind, text in parts:
            if kind == 0:
                out.append(text)
            else:
                g = m.group(int(text) if text.isdigit() else text)
                out.append(g or "")
        return "".join(out)
    return fn


def java_split(rx: re.Pattern[str], s: str, preserve_trailing: bool) -> list[str]:
    """`String.split(regex, 0 or -1)`."""
    if s == "":
        return [""]
    parts: list[str] = []
    pos = 0
    for m in rx.finditer(s):
        if m.end() == 0:  # a zero-width match at the start yields no leading empty string
            continue
        if m.start() == m.end() and m.start() >= len(s):
            break
        parts.append(s[pos:m.start()])
        pos = m.end()
    parts.append(s[pos:])
    if not preserve_trailing:
        while parts and parts[-1] == "":
            parts.pop()
    return parts
