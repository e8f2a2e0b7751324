"""The `if` subset (siem_pack.ingest.painless): what parses, how it evaluates, and the
load-time error for anything outside the subset. Semantics against the real engine are in
test_differential.py (case `conditions`)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from siem_pack.errors import ContentError
from siem_pack.ingest.painless import PainlessError, compile_condition

DOC: dict[str, Any] = {"a": {"b": "xyz"}, "n": 7, "f": 2.5, "s": "Hello", "l": ["t1", "t2"], "m": {"k": 1},
                       "t": True, "@timestamp": "2024-05-01T00:00:00.000Z", "weird-key": 3}


@pytest.mark.parametrize(("cond", "expected"), [
    ("ctx.a.b == 'xyz'", True),
    ("ctx.a?.b == \"xyz\"", True),
    ("ctx.missing?.b == null", True),
    ("ctx.missing == null && ctx.a != null", True),
    ("ctx.n > 5 && ctx.n <= 7 && ctx.n >= 7 && ctx.n < 8", True),
    ("ctx.n == 7.0", True),
    ("ctx.n == '7'", False),
    ("ctx.t == true", True),
    ("ctx.t == 1", False),
    ("!(ctx.n == 7) || ctx.s.startsWith('He')", True),
    ("ctx.s.endsWith('lo') && ctx.s.contains('ell')", True),
    ("ctx.s.equals('Hello') && ctx.s.equalsIgnoreCase('hello')", True),
    ("ctx.s.toLowerCase() == 'hello' && ctx.s.toUpperCase() == 'HELLO'", True),
    ("ctx.l.contains('t2') && ctx.l.size() == 2 && !ctx.l.isEmpty()", True),
    ("['a', 'b', 'Hello'].contains(ctx.s)", True),
    ("[1, 2].contains(ctx.n)", False),
    ("ctx.m instanceof Map && ctx.l instanceof List && ctx.s instanceof String", True),
    ("ctx.n instanceof Number && ctx.n instanceof Integer && !(ctx.n instanceof Long)", True),
    ("ctx.f instanceof Double && ctx.t instanceof Boolean", True),
    ("ctx.missing instanceof String", False),
    ("ctx.m.containsKey('k')", True),
    ("ctx['weird-key'] == 3 && ctx['@timestamp'] != null", True),
    ("ctx['@timestamp'].compareTo('2024-04-25T00:00:00.000Z') >= 0", True),
    ("ctx['@timestamp'].compareTo('2024-05-01T00:00:00.001Z') < 0", True),
    ("ctx.s.length() == 5 && ' x '.trim() == 'x'", True),
    # nested shapes: the generated expression reuses temporaries, each read before reassigned
    ("ctx.a?.b == ctx.a?.b && ctx.missing?.x?.y == ctx.m?.nope", True),
    ("!(ctx.s instanceof String && ctx.s.contains(ctx.a?.b)) && !(ctx.a.b.startsWith(ctx.s))", True),
    ("['xyz', 'q'].contains(ctx.a?.b) && ['Hello'].contains(ctx.s) && !['z'].contains(ctx.missing?.b)", True),
    ("(ctx.missing?.b == null || ctx.missing.b == 'x') && (ctx.n == 8 || (ctx.f > 2 && ctx.l.contains('t1')))", True),
])
def test_conditions_evaluate_like_painless(cond: str, expected: bool) -> None:
    assert compile_condition(cond)(DOC) is expected


@pytest.mark.parametrize(("cond", "message"), [
    ("ctx.missing.b == 'x'", 'Cannot invoke "Object.getClass()" because "receiver" is null'),
    ("ctx.l.b == 'x'", "Illegal list shortcut value [b]."),
    ("ctx.s.b == 'x'", "dynamic getter [java.lang.String, b] not found"),
    ("ctx.s > 1", "Cannot apply [>] operation to types [java.lang.String] and [java.lang.Integer]."),
    ("ctx.n.startsWith('x')", "dynamic method"),
    ("ctx.s && true", "cannot apply [&&]"),
    ("ctx.n == 7 && ctx.a.b.contains(ctx.missing.z)", 'Cannot invoke "Object.getClass()"'),
    ("!ctx.s", "cannot apply [!] to java.lang.String"),
    ("ctx.missing?.b.contains('x')", "cannot invoke contains() on null"),
    ("ctx.n == 8 || ctx.s", "cannot apply [||] to java.lang.String"),
])
def test_runtime_errors_fail_the_processor(cond: str, message: str) -> None:
    with pytest.raises(PainlessError, match=re.escape(message)):
        compile_condition(cond)(DOC)


@pytest.mark.parametrize(("cond", "what"), [
    ("ctx.a.b =~ /x/", "unexpected character '='"),
    ("def x = 1; x == 1", "unexpected character '='"),
    ("def == 1", "identifier 'def'"),
    ("ctx.s.substring(1) == 'x'", "method substring()"),
    ("ctx.n instanceof ArrayList", "instanceof ArrayList"),
    ("params.x == 1", "identifier 'params'"),
    ("ctx.a[0] == 1", "only string keys"),
    ("ctx.n == 1 ? true : false", "unexpected character '?'"),
    ("ctx.a?.['b'] == 'xyz'", "`?.[` (the engines' Painless refuses it"),
])
def test_outside_the_subset_is_a_load_time_error(cond: str, what: str) -> None:
    with pytest.raises(ContentError) as err:
        compile_condition(cond, where="p.yml: processors[3] set tag=t1")
    text = str(err.value)
    assert text.startswith("p.yml: processors[3] set tag=t1: unsupported `if` condition")
    assert what in text
    assert "supported: ctx field access" in text
