"""Seeded fuzz differential proof of the offline executor (siem_pack.ingest.executor): mutated
records and random Painless conditions give the same documents (failure messages and
`_ingest.on_failure_*` included) on the real OpenSearch node's `_simulate` and offline.

Two fuzzers, both deterministic (`random.Random(SEED)`), compared with test_differential's
canonical forms (`assert_same`):

- records: every sample record of every format (siem_pack.ingest.formats.FORMATS), mutated
  (keys deleted, nulls, swapped types, empty / long / astral strings, maps for scalars and back,
  odd timestamps, inventory aliases and model names planted in user and model fields, secrets
  planted from the detectors, broken JSON), through the whole entry pipeline, 100 per call;
  about 2,000 mutants of our own samples, and as many of the upstream ones (conformance);
- conditions: random conditions of the supported subset (painless.SUPPORTED) over random
  documents, each as a conditional `set` in its own pipeline (a condition error is caught by the
  caller's on_failure, which records the message), plus runs of conditions sharing a first
  equality (the executor's dispatch groups) whose processors rewrite the compared path.

A difference is a bug of the executor (or a documented deviation, docs/ingest.md); the
failure message lists each differing input with both outputs.
"""

from __future__ import annotations

import copy
import json
import random
import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sample_cases import LAYERS, layer_records
from test_differential import assert_same, canonical_local, canonical_remote

from siem_pack.ingest.formats import FORMATS
from siem_pack.ingest.pipeline import ENTRY, PipelineSet, pipelines_from_bodies
from siem_pack.ingest.secrets import load_detectors
from siem_pack.inventory import load_inventory

SEED = 20261127
MUTANTS_PER_LAYER = 2000  # spread over the layer's records (each gets the same number, rounded up)
BATCH = 100

# ---- record mutations ----------------------------------------------------------------------
# one example a detector's regex matches, by detector name (checked below against the regexes)
SECRETS = {
    "anthropic_api_key": "sk-ant-api03-" + "Ab1_" * 6,
    "aws_access_key_id": "AKIA" + "ABCDEFGH12345678",
    "aws_secret_access_key": 'aws_secret_access_key="' + "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" + '"',
    "azure_storage_key": "AccountKey=" + "A1b2C3d4" * 9 + "==",
    "bearer_token": "Bearer " + "abcDEF123._~+/-" * 2,
    "github_token": "ghp_" + "a1B2c3D4e5" * 4,
    "google_api_key": "AIza" + "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "openai_api_key": "sk-proj-" + "Zz9Yy8Xx7Ww6" * 2,
    "private_key": "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
    "slack_token": "xoxb-" + "1234567890-abcdef",
}
ODD_TIMES: list[Any] = [
    "2024-02-30T00:00:00Z", "2024-01-01", "2024-01-01T00:00:00+05:30", "2024-01-01 00:00:00",
    "2024-06-01T12:00:00.123456789+14:00", "1000-01-01T00:00:00Z", "9999-12-31T00:00:00Z",
    "1969-12-31T23:59:59Z", "2024-01-01T24:00:00Z", "2024-13-01T00:00:00Z", "Mon, 01 Jan 2024 00:00:00 GMT",
    "1700000000", "1700000000000", "1.7e9", "", " ", "T", "2024-01-01T00:00:00", "2024-W01-1",
    "2024-01-01T00:00:00.5Z", "2024-01-01T00:00Z", "+2024-01-01T00:00:00Z", "2024-01-01T00:00:00z",
    1700000000, 1700000000000, 1700000000.5, -1, 0, 2 ** 63 - 1, 1e20, True, None, [], {},
    ["2024-01-01T00:00:00Z"], {"seconds": 1700000000},
]
WEIRD_STRINGS = [
    "", " ", "😀", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \U0010ffff", "é\u0301", "\u0000", "\ud83d", "\u2028\u2029", "a\tb\nc\rd",
    "null", "true", "0", "-0", "1e400", "NaN", "Infinity", "0x1F", "{{m}}", "{{{_ingest.timestamp}}}",
    "%{a} %{b}", "\\", '"', "'", "[CONTENT]", "[REDACTED:jwt]", "ıİ", "ß", "ǅ", "Σ",
]
TIME_WORDS = ("time", "date", "timestamp", "created", "ts", "at", "start", "end")
USER_WORDS = ("user", "email", "principal", "caller", "name", "arn", "account", "key", "identity", "owner", "sub")
MODEL_WORDS = ("model", "deployment", "engine")


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into a parsed record (dict keys and list indexes), the root excluded."""
    out: list[tuple[Any, ...]] = []
    if isinstance(node, dict):
        items: Any = node.items()
    elif isinstance(node, list):
        items = enumerate(node)
    else:
        return out
    for k, v in items:
        out.append((*prefix, k))
        out.extend(_paths(v, (*prefix, k)))
    return out


def _get(root: Any, path: tuple[Any, ...]) -> Any:
    for k in path:
        root = root[k]
    return root


def _put(root: Any, path: tuple[Any, ...], value: Any) -> None:
    _get(root, path[:-1])[path[-1]] = value


def _swap(v: Any, rnd: random.Random) -> Any:
    """The value as another JSON type."""
    choices: list[Callable[[], Any]] = [
        lambda: str(v) if not isinstance(v, (dict, list)) else json.dumps(v),
        lambda: rnd.choice([0, 1, -7, 3.25, 2 ** 31, 2 ** 53 + 1, 2 ** 63 - 1, -0.0, 1e-7, 1.0, 12345678.5]),
        lambda: rnd.choice([True, False]),
        lambda: [v],
        lambda: {"value": v},
        lambda: [],
        lambda: {},
    ]
    return rnd.choice(choices)()


class Mutator:
    def __init__(self, rnd: random.Random) -> None:
        inv = load_inventory()
        self.rnd = rnd
        self.aliases = sorted({a for i in inv.identities for a in i.user_aliases()}
                              | {v for i in inv.identities for _, v in i.aliases})
        self.models = sorted({n for m in inv.models for n in (m.id, *m.names)})
        self.secrets = list(SECRETS.values())

    def string(self) -> str:
        r = self.rnd
        kind = r.randrange(6)
        if kind == 0:
            return r.choice(WEIRD_STRINGS)
        if kind == 1:
            return r.choice("ab😀é\u0000 ") * r.choice([300, 5000, 70000])
        if kind == 2:
            return r.choice(self.aliases)
        if kind == 3:
            return r.choice(self.models)
        if kind == 4:
            return r.choice(self.secrets)
        return f"{r.choice(WEIRD_STRINGS)} {r.choice(self.secrets)} {r.choice(self.aliases)}"

    def one(self, rec: Any) -> Any:
        """`rec` (parsed, mutated in place) with one mutation; returns the new root."""
        r = self.rnd
        paths = _paths(rec)
        if not paths:
            return r.choice([{"@timestamp": r.choice(ODD_TIMES)}, [rec], rec, {}])
        path = r.choice(paths)
        old = _get(rec, path)
        key = str(path[-1]).lower()
        op = r.randrange(14)
        if op == 0 and isinstance(_get(rec, path[:-1]), dict):
            del _get(rec, path[:-1])[path[-1]]
        elif op == 1:
            _put(rec, path, None)
        elif op == 2:
            _put(rec, path, _swap(old, r))
        elif op == 3:
            _put(rec, path, "")
        elif op == 4:
            _put(rec, path, self.string())
        elif op == 5:  # a map where a scalar is expected (one key: see test_map_rendering_order), and back
            _put(rec, path, r.choice([{"nested": old}, {"nested": {"deeper": old}}]) if not isinstance(old, dict)
                 else r.choice(["x", 1, ["x"]]))
        elif op == 6 or (op == 7 and any(w in key for w in TIME_WORDS)):
            time_paths = [p for p in paths if any(w in str(p[-1]).lower() for w in TIME_WORDS)] or [path]
            _put(rec, r.choice(time_paths), copy.deepcopy(r.choice(ODD_TIMES)))
        elif op in (7, 8):  # an inventory alias into a user-ish field, a model name into a model-ish one
            words, pool = (USER_WORDS, self.aliases) if op == 7 else (MODEL_WORDS, self.models)
            targets = [p for p in paths if any(w in str(p[-1]).lower() for w in words)] or [path]
            _put(rec, r.choice(targets), r.choice(pool))
        elif op == 9:  # a secret in some string, or as a new key
            strings = [p for p in paths if isinstance(_get(rec, p), str)]
            if strings and r.random() < 0.7:
                p = r.choice(strings)
                s = _get(rec, p)
                cut = r.randrange(len(s) + 1)
                _put(rec, p, s[:cut] + " " + r.choice(self.secrets) + " " + s[cut:])
            elif isinstance(rec, dict):
                rec[r.choice(["api_key", "authorization", "Authorization", "x-api-key", "token"])] = r.choice(self.secrets)
        elif op == 10 and isinstance(rec, dict):  # a top-level field of another record's shape
            rec[r.choice(["user", "model", "@timestamp", "timestamp", "event", "message", "siem_pack", "_ingest"])] = \
                r.choice([None, "", "x", 1, {"id": r.choice(self.aliases)}, [1, "a"], {"original": "o"}])
        elif op == 11:
            # (not beyond a Java long: OpenSearch's _simulate then fails the whole request, see the report)
            _put(rec, path, r.choice([2 ** 63 - 1, -(2 ** 63), 1e308, 5e-324, 0.1 + 0.2, 1.0, 100, 1 << 31]))
        elif op == 12:
            parent = _get(rec, path[:-1])
            if isinstance(parent, dict):
                parent[r.choice(["", " ", "a.b", "😀", "@timestamp", "_id", "k" * 300])] = self.string()
        else:
            return r.choice([[rec], "text", 42, None, rec])
        return rec

    def mutate(self, line: str) -> str:
        r = self.rnd
        try:
            rec = json.loads(line)
        except ValueError:
            rec = None
        if rec is None or r.random() < 0.05:  # text mutations: broken JSON, garbage
            cut = r.randrange(len(line) + 1)
            return r.choice([line[:cut], line[:cut] + "😀" + line[cut:], line + " trailing", "  " + line + "\n",
                             line.replace('"', "'", 1), "", "{}", "[]", "null"])
        for _ in range(r.choice([1, 1, 1, 2, 3, 5])):
            rec = self.one(rec)
        text = json.dumps(rec, ensure_ascii=r.random() < 0.3, separators=(",", ":") if r.random() < 0.8 else None)
        try:  # a record is UTF-8 text (the reader refuses anything else): a lone surrogate is an escape
            text.encode()
        except UnicodeEncodeError:
            text = json.dumps(rec)
        if r.random() < 0.03 and text.startswith("{") and len(text) > 2:  # a duplicate key
            text = '{"dup":1,"dup":{"x":2},' + text[1:]
        return text


def _mutated_inputs(lines: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Mutants of (format name, record) pairs, the same number of each."""
    rnd = random.Random(SEED)
    mut = Mutator(rnd)
    per_record = -(-MUTANTS_PER_LAYER // len(lines))
    out: list[dict[str, Any]] = []
    for fmt, line in lines:
        for _ in range(per_record):
            doc: dict[str, Any] = {"message": mut.mutate(line)}
            hint = rnd.random()
            if hint < 0.2:
                doc["siem_pack"] = {"format": fmt if hint < 0.15 else rnd.choice(sorted(FORMATS))}
            out.append(doc)
    return out


@pytest.fixture(scope="module")
def node(opensearch: Any) -> Any:
    """The OpenSearch node, its script compilation rate raised (as test_differential does): each
    distinct condition and template is a compilation."""
    opensearch.request("PUT", "/_cluster/settings", {"persistent": {
        "script.context.template.max_compilations_rate": "100000/1m",
        "script.context.ingest.max_compilations_rate": "100000/1m"}})
    return opensearch


def test_secret_examples_match_their_detectors() -> None:
    for d in load_detectors():
        if d.name in SECRETS:
            assert re.search(d.regex, SECRETS[d.name]), d.name


BEYOND_PYTHON_YEARS = re.compile(r'"(?:[+-]\d{5,}|0000)-\d\d-\d\dT')


def _beyond_python_years(remote: Any, local: Any) -> bool:
    """The known difference test_dates_beyond_python_years pins: the engine dates a record
    outside years 1..9999 (an epoch of 1.7e12 read as seconds), the executor cannot."""
    return (local.error is not None and remote is not None and "doc" in remote
            and bool(BEYOND_PYTHON_YEARS.search(json.dumps(remote["doc"]["_source"]))))


def _map_rendering_order(remote: Any, local: Any) -> bool:
    """The known difference test_map_rendering_order pins: the two documents differ only in
    strings that render a map (`{a=1, b=2}`), with the same entries in another order."""
    (kind_r, doc_r), (kind_l, doc_l) = canonical_remote(remote), canonical_local(local)
    return kind_r == kind_l == "ok" and doc_r != doc_l and _same_but_map_order(json.loads(doc_r), json.loads(doc_l))


def _same_but_map_order(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_but_map_order(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_but_map_order(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, str) and isinstance(b, str) and a != b:
        return a.startswith("{") and a.endswith("}") and sorted(a) == sorted(b)
    return bool(a == b)


def _known_difference(remote: Any, local: Any) -> bool:
    return _beyond_python_years(remote, local) or _map_rendering_order(remote, local)


@pytest.mark.slow
@pytest.mark.opensearch
@pytest.mark.parametrize("layer", LAYERS)
def test_mutated_records_match_opensearch(pipelines: PipelineSet, remote_pipelines: str, node: Any, layer: str,
                                          request: pytest.FixtureRequest) -> None:
    docs = _mutated_inputs([(fmt.name, text) for fmt, _, text in layer_records(layer, request)])
    assert len(docs) >= MUTANTS_PER_LAYER, len(docs)
    diffs: list[str] = []
    known = 0
    for at in range(0, len(docs), BATCH):
        batch = docs[at:at + BATCH]
        remote = node.request("POST", f"/_ingest/pipeline/{remote_pipelines}{ENTRY}/_simulate",
                                    {"docs": [{"_source": copy.deepcopy(d)} for d in batch]})["docs"]
        local = [pipelines.executor.run(ENTRY, copy.deepcopy(d)) for d in batch]
        keep = [i for i, (r, lo) in enumerate(zip(remote, local, strict=True)) if not _known_difference(r, lo)]
        known += len(batch) - len(keep)
        remote, local, batch = [remote[i] for i in keep], [local[i] for i in keep], [batch[i] for i in keep]
        try:
            assert_same(remote, local, batch)
        except AssertionError as exc:
            diffs.append(str(exc).split("\n", 1)[1])
    assert known < len(docs) // 50, f"{known} records fall under the known date-range and map-order differences"
    assert not diffs, "offline executor differs from OpenSearch _simulate on mutated records:\n" + "\n".join(diffs)


# ---- random conditions -----------------------------------------------------------------------
KEYS = ("a", "b", "c", "k-1")
LITS: list[str] = ["'abc'", '"ABC"', "''", "' x '", "'a'", "0", "1", "2", "1.5", "true", "false", "null",
                   "['abc', 'x']", "['a', 1]", "'2024-01-01'", "'é😀'"]
# `x == true`, `x != 2`: Painless types the call site by the literal, and whether a value of
# another kind (a number against `true`, a boolean against `2`) fails or compares false then
# depends on the types that call site has seen before (an engine quirk the executor cannot
# follow; reported, docs/ingest.md); equalities are fuzzed with strings, null and lists.
NOT_EQ_LITS = ("0", "1", "2", "1.5", "true", "false")
EQ_LITS = [lit for lit in LITS if lit not in NOT_EQ_LITS]
VALUES: list[Any] = [None, "", "abc", "ABC", " x ", "a", "2024-01-01", "é😀", "😀", 0, 1, 2, -1, 1.5, 2.0, 2 ** 31,
                     2 ** 40, True, False, [], ["abc", 1], ["a"], {}, {"b": "abc"}, {"b": 1, "c": None}]


class CondGen:
    def __init__(self, rnd: random.Random) -> None:
        self.r = rnd

    def field(self, depth: int | None = None) -> str:
        r = self.r
        src = "ctx"
        for _ in range(depth or r.choice([1, 1, 2, 2, 3])):
            k = r.choice(KEYS)
            safe = r.random() < 0.5
            if k == "k-1" or r.random() < 0.1:  # no `?.[`: the engine's Painless rejects it
                src += f"['{k}']"
            else:
                src += ("?." if safe else ".") + k
        return src

    def value(self) -> str:
        r = self.r
        x = r.randrange(10)
        f = self.field()
        dot = "?." if r.random() < 0.3 else "."
        if x < 5:
            return f
        if x < 8:
            m = r.choice(["size()", "length()", "trim()", "toLowerCase()", "toUpperCase()",
                          f"compareTo({r.choice(LITS)})", f"compareTo({self.field()})"])
            return f"{f}{dot}{m}"
        return r.choice(LITS)

    def boolean(self, depth: int = 0) -> str:  # noqa: PLR0911 - one case per shape
        r = self.r
        x = r.randrange(12 if depth < 3 else 7)
        if x < 2:
            a, b = self.value(), self.value()
            if a in LITS and b in LITS:
                a = self.field()
            op = r.choice(["==", "!=", "<", "<=", ">", ">=", "==", "!="])
            if op not in ("==", "!=") and "null" in (a, b):  # a compile error on the engine
                op = "=="
            if op in ("==", "!=") and b in NOT_EQ_LITS:  # see NOT_EQ_LITS
                b = r.choice(EQ_LITS)
            if op in ("==", "!=") and a in NOT_EQ_LITS:
                a = self.field()
            return f"{a} {op} {b}"
        if x == 2:
            return f"{self.field()} instanceof {r.choice(['String', 'List', 'Map', 'Number', 'Boolean', 'Integer', 'Long', 'Double'])}"
        if x in (3, 4):
            dot = "?." if r.random() < 0.3 else "."
            m = r.choice(["contains", "startsWith", "endsWith", "equals", "equalsIgnoreCase", "containsKey"])
            arg = r.choice([*LITS[:5], self.field()])
            if m == "isEmpty":
                return f"{self.field()}{dot}isEmpty()"
            return f"{self.field()}{dot}{m}({arg})" if r.random() < 0.8 else f"{self.field()}{dot}isEmpty()"
        if x == 5:
            return f"['abc', 'x', 'a'].contains({self.value()})"
        if x == 6:
            return self.field()  # a value that may not be a boolean
        if x == 7:
            return f"!({self.boolean(depth + 1)})"
        if x in (8, 9):
            return f"({self.boolean(depth + 1)}) && ({self.boolean(depth + 1)})"
        if x == 10:
            return f"({self.boolean(depth + 1)}) || ({self.boolean(depth + 1)})"
        return f"{self.field()} == {r.choice(EQ_LITS)} && {self.boolean(depth + 1)}"

    def doc(self, depth: int = 0) -> dict[str, Any]:
        r = self.r
        out: dict[str, Any] = {}
        for k in KEYS:
            if r.random() < 0.25:
                continue
            out[k] = self.doc(depth + 1) if depth < 2 and r.random() < 0.4 else copy.deepcopy(r.choice(VALUES))
        return out


# what a failure leaves: `e.<name>` the failing processor (type|tag|pipeline), `m.<name>` the
# message. Condition errors carry Painless's own messages, which depend on the engine's
# call-site state (see _messages); the test compares the rest exactly.
def _capture(name: str) -> list[dict[str, Any]]:
    return [{"set": {"field": f"e.{name}", "value": "{{_ingest.on_failure_processor_type}}|"
                     "{{_ingest.on_failure_processor_tag}}|{{_ingest.on_failure_pipeline}}"}},
            {"set": {"field": f"m.{name}", "value": "{{{_ingest.on_failure_message}}}"}}]


def _condition_bodies(rnd: random.Random, count: int, groups: int, run: str = "") -> tuple[dict[str, Any], list[str]]:
    """Pipelines `c<n>` (one conditional set each) called in turn by `main` (each call's
    on_failure records a condition's error and goes on), and `g<n>`: runs of processors whose
    conditions start with an equality on one path (the executor's dispatch groups), some of
    which rewrite that path.

    Every condition ends with `&& ctx.zz_<run> == null` (true, and only reached when the rest
    is true): each run compiles fresh scripts. The node caches a script by its source, and a
    Painless `def` call site keeps the types it has seen, which can change the outcome (an
    `x == true` fails on a double once it has seen booleans): a deterministic test needs a
    fresh cache, as a first run has."""
    gen = CondGen(rnd)
    tail = f" && ctx.zz_{run} == null" if run else ""
    bodies: dict[str, Any] = {}
    calls: list[dict[str, Any]] = []
    conds: list[str] = []
    for n in range(count):
        cond = gen.boolean()
        conds.append(cond)
        bodies[f"c{n}"] = {"processors": [{"set": {"tag": f"t{n}", "field": f"r.c{n}", "value": True,
                                                    "if": f"({cond}){tail}"}}]}
        calls.append({"pipeline": {"name": f"{{{{P}}}}c{n}", "on_failure": _capture(f"c{n}")}})
    for g in range(groups):
        path = rnd.choice(["ctx.a?.b", "ctx.a.b", "ctx.a", "ctx['k-1']?.c"])
        target = path.replace("ctx", "").replace("?", "").replace("['k-1']", ".k-1").lstrip(".")
        procs = []
        for n in range(rnd.randrange(3, 9)):
            lit = rnd.choice(["'abc'", "'x'", "'a'", "null"])
            cond = f"{path} == {lit}" + (f" && ({gen.boolean(2)})" if rnd.random() < 0.5 else "") + tail
            conds.append(cond)
            value = rnd.choice(["abc", "x", "a", "other", 1, "", {"b": "x"}, "{{r.seen}}"])
            field = target if rnd.random() < 0.5 else rnd.choice(["a", f"r.g{g}.p{n}", "a.b.c"])
            procs.append({"set": {"tag": f"g{g}-{n}", "field": field, "value": value, "if": cond}})
            procs.append({"append": {"field": "r.seen", "value": f"g{g}-{n}", "if": cond}})
        bodies[f"g{g}"] = {"processors": procs}
        calls.append({"pipeline": {"name": f"{{{{P}}}}g{g}", "on_failure": _capture(f"g{g}")}})
    bodies["main"] = {"processors": calls, "on_failure": _capture("main")}
    return bodies, conds


def _with_prefix(node: Any, prefix: str) -> Any:
    return json.loads(json.dumps(node).replace("{{P}}", prefix))


def _messages(remote: list[Any], local: list[Any]) -> list[tuple[str, str]]:
    """Pops `m` (the failure messages) from both sides; returns the pairs that differ."""
    out = []
    for r, lo in zip(remote, local, strict=True):
        rm = r["doc"]["_source"].pop("m", {}) if r and "doc" in r else {}
        om = lo.doc.pop("m", {}) if lo.doc is not None else {}
        out += [(str(rm.get(k)), str(om.get(k))) for k in sorted(set(rm) | set(om)) if rm.get(k) != om.get(k)]
    return out


ROUNDS, CONDITIONS, GROUPS, DOCS = 5, 60, 6, 40


@pytest.mark.slow
@pytest.mark.opensearch
def test_random_conditions_match_opensearch(node: Any) -> None:
    """Outcomes (true, false, which processor failed) are compared exactly; the messages of
    condition errors are Painless's runtime wording, not the subset's (docs/ingest.md), and are
    only counted (they stay out of every shipped pipeline: ours never fail a condition)."""
    rnd = random.Random(SEED + 1)
    total, compared, messages = 0, 0, []
    diffs: list[str] = []
    for round_ in range(ROUNDS):
        prefix = f"t-{uuid.uuid4().hex[:8]}-"
        bodies, conds = _condition_bodies(rnd, CONDITIONS, GROUPS, prefix[2:-1])
        total += len(conds)
        docs = [CondGen(rnd).doc() for _ in range(DOCS)]
        remote_bodies = _with_prefix(bodies, prefix)
        try:
            for pid, body in remote_bodies.items():
                node.request("PUT", f"/_ingest/pipeline/{prefix}{pid}", body)
            remote = node.request("POST", f"/_ingest/pipeline/{prefix}main/_simulate",
                                  {"docs": [{"_source": copy.deepcopy(d)} for d in docs]})["docs"]
        finally:
            node.request("DELETE", f"/_ingest/pipeline/{prefix}*")
        remote = json.loads(json.dumps(remote).replace(prefix, ""))
        ps = pipelines_from_bodies(_with_prefix(bodies, ""))
        local = [ps.executor.run("main", copy.deepcopy(d)) for d in docs]
        messages += _messages(remote, local)
        compared += len(docs) * len(conds)
        try:
            assert_same(remote, local, docs)
        except AssertionError as exc:
            diffs.append(f"round {round_}: " + str(exc).split("\n", 1)[1])
    assert total >= 400 and compared >= 16000
    assert not diffs, "offline conditions differ from OpenSearch:\n" + "\n".join(diffs)


def test_dispatched_conditions_fail_as_undispatched() -> None:
    """Offline only: a condition `ctx.a.b == LIT && rest` gives the same outcome and message
    whether it runs in a dispatch group (executor._dispatcher, which evaluates `rest` alone) or
    on its own."""
    rnd = random.Random(SEED + 2)
    gen = CondGen(rnd)
    capture = [{"set": {"field": "err", "value": "{{{_ingest.on_failure_message}}}|{{_ingest.on_failure_processor_tag}}"}}]
    for _ in range(150):
        cond = f"ctx.a?.b == 'abc' && {gen.boolean(1)}"
        proc = {"set": {"tag": "p", "field": "r", "value": True, "if": cond}}
        grouped = {"processors": [proc, {"set": {"field": "q", "value": 1, "if": "ctx.a?.b == 'zzz'"}}],
                   "on_failure": capture}
        ps = pipelines_from_bodies({"alone": {"processors": [proc], "on_failure": capture}, "grouped": grouped})
        for _ in range(6):
            d = gen.doc()
            if rnd.random() < 0.7:
                d["a"] = {**(d["a"] if isinstance(d.get("a"), dict) else {}), "b": "abc"}
            alone, grouped_out = ps.executor.run("alone", copy.deepcopy(d)), ps.executor.run("grouped", copy.deepcopy(d))
            assert alone.doc == grouped_out.doc, (cond, d)


# ---- known differences (reported; each flips to a failure once fixed) -------------------------
@pytest.mark.opensearch
@pytest.mark.xfail(strict=True, reason="maps render in insertion order offline, in java.util.HashMap order on the engine")
def test_map_rendering_order(node: Any) -> None:
    pipe = {"processors": [{"set": {"field": "s", "value": "{{m}}"}}]}
    docs = [{"m": {"nested": 1, "x": 2}}]
    remote = node.simulate(pipe, copy.deepcopy(docs))["docs"]
    local = [pipelines_from_bodies({"main": pipe}).executor.run("main", copy.deepcopy(d)) for d in docs]
    assert_same(remote, local, docs)


@pytest.mark.opensearch
@pytest.mark.xfail(strict=True, reason="Python's datetime holds years 1..9999 only: year 0 and 10000 fail offline")
def test_dates_beyond_python_years(node: Any) -> None:
    pipe = {"processors": [{"date": {"field": "t", "target_field": "d", "formats": ["ISO8601"], "timezone": "America/New_York"}},
                           {"date": {"field": "t", "target_field": "e", "formats": ["ISO8601"], "timezone": "Asia/Tokyo"}}]}
    docs = [{"t": "0001-01-01T00:00:00Z"}, {"t": "9999-12-31T23:59:59.999Z"}]
    remote = node.simulate(pipe, copy.deepcopy(docs))["docs"]
    local = [pipelines_from_bodies({"main": pipe}).executor.run("main", copy.deepcopy(d)) for d in docs]
    assert_same(remote, local, docs)


def test_set_of_a_non_finite_constant() -> None:
    """Found reading the generated code: a `set` of a constant is written inline, and the
    repr of an infinite float is no Python expression (no engine pins this: JSON has no
    Infinity, but YAML content may spell `.inf`)."""
    ps = pipelines_from_bodies({"m": {"processors": [{"set": {"field": "a.b", "value": float("inf")}}]}})
    out = ps.executor.run("m", {})
    assert out.ok and out.doc == {"a": {"b": float("inf")}}, out.error
