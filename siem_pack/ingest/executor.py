"""Stage 1 → 2: the offline pipeline executor. Runs the same pipeline bodies Elasticsearch
runs, with its semantics (processor `if`, `ignore_failure`, `on_failure`, pipeline-level
`on_failure` with `_ingest.on_failure_*`, `pipeline`, `drop`, `_ingest.timestamp`), and no
cluster.

Each processor list is compiled once into one generated Python function (`_generate`): the
processors' `run` closures (siem_pack.ingest.processors) called in order on one mutable
`IngestDoc`, each under its own `try`, with its `if` condition inlined as a Python expression
(siem_pack.ingest.painless.Emitter), and a `set` of a fixed path written inline
(processors.SetPath); no document copy per processor, no call per condition.
Consecutive processors whose conditions start with `ctx.a.b == LIT` run as one dispatch
(`_dispatch_groups`): the path is read once and only the processors for its value run, in
order, which is what makes the generated inventory pipeline cheap offline.
Loaded by siem_pack.ingest.pipeline; used by siem_pack.ingest_job and the CLI.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import ContentError, SiemPackError, collect
from .painless import DispatchKey, Emitter, Node, PainlessError, dispatch_key, parse
from .processors import (
    PROCESSORS,
    Build,
    Conf,
    Dropped,
    IngestDoc,
    ProcessorFailure,
    Run,
    SetPath,
    gsub_prefilter,
    lowered,
    peek_field,
)

COMMON = ("if", "tag", "ignore_failure", "on_failure", "description")
# on-failure metadata Elasticsearch sets while an on_failure block runs
FAILURE_KEYS = ("on_failure_message", "on_failure_processor_type", "on_failure_processor_tag", "on_failure_pipeline")
MAX_DEPTH = 100


def java_instant(dt: datetime) -> str:
    """`ZonedDateTime.toString()` in UTC, as `_ingest.timestamp` renders."""
    base = dt.strftime("%Y-%m-%dT%H:%M")
    us = dt.microsecond
    if dt.second or us:
        base += f":{dt.second:02d}"
    if us:
        base += f".{us // 1000:03d}" if us % 1000 == 0 else f".{us:06d}"
    return base + "Z"


@dataclass
class Outcome:
    """What a pipeline did to one document: a result, a deliberate drop, or a failure."""

    doc: dict[str, Any] | None
    dropped: bool = False
    error: str | None = None
    error_processor: str | None = None
    error_tag: str | None = None
    drop_reason: str | None = None
    ingest: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.doc is not None and self.error is None


def _failure(exc: BaseException) -> ProcessorFailure:
    if isinstance(exc, ProcessorFailure):
        return exc
    if isinstance(exc, PainlessError):
        return ProcessorFailure(str(exc))
    if isinstance(exc, RecursionError):
        return ProcessorFailure("document too deeply nested")
    return ProcessorFailure(f"{type(exc).__name__}: {exc}")


def _run_on_failure(doc: IngestDoc, f: ProcessorFailure, handlers: Run) -> None:
    meta = doc.ingest
    saved = {k: meta[k] for k in FAILURE_KEYS if k in meta}
    meta["on_failure_message"] = f.message
    meta["on_failure_processor_type"] = f.processor_type
    meta["on_failure_processor_tag"] = f.tag
    meta["on_failure_pipeline"] = f.pipeline
    if f.tag is None:
        meta.pop("on_failure_processor_tag")
    try:
        handlers(doc)
    finally:
        for k in FAILURE_KEYS:
            meta.pop(k, None)
        meta.update(saved)


def _nothing(doc: IngestDoc) -> None:
    return None


@dataclass(frozen=True)
class _Meta:
    """What a failure of one processor reports, and how the processor handles it."""

    pid: str
    ptype: str
    tag: str | None
    ignore_failure: bool
    handlers: Run | None
    why: str | None
    conditional: bool


@dataclass
class _Step:
    """One compiled processor before code generation: its run, its condition's AST, its
    failure handling, and its dispatch membership (when its condition starts `ctx.a.b == LIT`)."""

    run: Run
    cond: Node | None
    meta: _Meta
    member: _Member | None = None


def _cond_failed(exc: BaseException, m: _Meta) -> ProcessorFailure:
    """OpenSearch nests a processor's own failure handling inside its condition: an error
    in the condition is not covered by ignore_failure/on_failure, and is reported as type
    "conditional"."""
    f = _failure(exc)
    f.processor_type, f.tag, f.pipeline = "conditional", m.tag, m.pid
    return f


def _not_boolean(ok: Any, m: _Meta) -> ProcessorFailure:
    return _cond_failed(PainlessError(f"condition must return a boolean, got {type(ok).__name__}"), m)


def _failed(exc: Exception, m: _Meta, doc: IngestDoc) -> None:
    """A processor raised: a drop goes on (with its reason), ignore_failure swallows,
    on_failure handlers run, anything else fails the document naming the processor."""
    if isinstance(exc, Dropped):
        if exc.reason is None:
            exc.reason = m.why or f"{m.pid}: {m.ptype}"
        raise exc
    f = _failure(exc)
    if m.ignore_failure:
        return
    if m.handlers is not None:
        if f.processor_type is None:
            f.processor_type, f.tag, f.pipeline = m.ptype, m.tag, m.pid
        _run_on_failure(doc, f, m.handlers)
        return
    if f.processor_type is None:
        f.processor_type = "conditional" if m.conditional else m.ptype
        f.tag, f.pipeline = m.tag, m.pid
    raise f from None


def _inline_set(em: Emitter, i: int, run: SetPath) -> list[str]:
    """A `set` of a fixed path as code: the value first, then the walk set_field does (maps
    all along, created when absent), else `run` itself, which takes the general path (lists on
    the way, or the engine's error) and creates the same maps the walk already did."""
    value = em.const(run.const[0]) if run.const is not None else f"_value{i}(doc)"
    if run.const is None:
        em.names[f"_value{i}"] = run.value
    em.names[f"_walk{i}"] = run.keys[:-1]
    return [
        f"    _val = {value}",
        "    _p = ctx",
        f"    for _key in _walk{i}:",
        "        _x = _p.get(_key)",
        "        if type(_x) is dict:",
        "            _p = _x",
        "        elif _x is None and _key not in _p:",
        "            _p[_key] = _p = {}",
        "        else:",
        f"            _r{i}(doc)",
        "            break",
        "    else:",
        f"        _p[{run.keys[-1]!r}] = _val",
    ]


def _generate(pid: str, steps: list[Run | _Step]) -> Run:
    """One Python function running a list of processors in order: each condition inlined as
    an expression (painless.Emitter), each processor called under its own try, whose except
    (run only on failure) applies the processor's handling (`_failed`). Same semantics as
    calling one closure per processor, without the calls: what makes the executor fast.
    Profilers see each function as `<pipeline ID from FIRST-TAG>`, and a comment names every
    step (`# set entry-kind`, `# switch on siem_pack.format: ...`), so a sampled line says
    which processor it was in."""
    if not steps:
        return _nothing
    em = Emitter()
    em.names.update(_cond_failed=_cond_failed, _not_boolean=_not_boolean, _failed=_failed)
    lines = ["def steps(doc):", "    ctx = doc.src"]
    for i, st in enumerate(steps):
        if not isinstance(st, _Step):  # a dispatch group or a gsub run: one call
            em.names[f"_s{i}"] = st
            lines.append(f"    # {st.__doc__ or 'group'}")
            lines.append(f"    _s{i}(doc)")
            continue
        em.names[f"_r{i}"] = st.run
        em.names[f"_m{i}"] = st.meta
        lines.append(f"    # {st.meta.ptype} {st.meta.tag or ''}".rstrip())  # for profilers and readers
        call = ["try:", *(_inline_set(em, i, st.run) if isinstance(st.run, SetPath) else [f"    _r{i}(doc)"]),
                "except Exception as exc:", f"    _failed(exc, _m{i}, doc)"]
        if st.cond is None:
            lines += ["    " + c for c in call]
            continue
        lines += [
            "    try:",
            f"        ok = {em.expr(st.cond)}",
            "    except Exception as exc:",
            f"        raise _cond_failed(exc, _m{i}) from None",
            "    if ok is True:",
            *("        " + c for c in call),
            "    elif ok is not False:",
            f"        raise _not_boolean(ok, _m{i})",
        ]
    code = "\n".join(lines) + "\n"
    first = next((st.meta.tag for st in steps if isinstance(st, _Step) and st.meta.tag), None)
    name = f"<pipeline {pid}" + (f" from {first}>" if first else ">")  # tells profilers which list
    exec(compile(code, name, "exec"), em.names)  # noqa: S102 - our own generated source
    fn: Run = em.names["steps"]
    return fn


@dataclass(frozen=True)
class _Member:
    """A processor whose condition starts with `ctx.a.b == LIT` (painless.DispatchKey):
    `body` is the processor guarded by the rest of its condition only."""

    key: DispatchKey
    body: Run
    tag: str | None


def _dispatch_groups(pid: str, compiled: list[tuple[Run | _Step, _Member | None]]) -> list[Run | _Step]:
    """Replace each run of >= 2 consecutive processors whose conditions start with an
    equality on the same path by one step that reads the path and jumps straight to the next
    processor whose literal matches, so a record meets only the processors meant for it.

    Exact for any processors: the path is read again after every processor that runs (it may
    have changed the path), skipped processors change nothing (so their comparisons would
    have read the same value), and a read that fails fails as the condition of the processor
    that would have read it (the next one in order), as Elasticsearch reports it."""
    out: list[Run | _Step] = []
    i = 0
    while i < len(compiled):
        step, m = compiled[i]
        j = i + 1
        if m is not None:
            while j < len(compiled) and (nxt := compiled[j][1]) is not None and nxt.key.path == m.key.path:
                j += 1
        if m is None or j - i < 2:
            out.append(step)
            i += 1
            continue
        members = [mm for _, mm in compiled[i:j] if mm is not None]
        out.append(_dispatcher(pid, members))
        i = j
    return out


def _gsub_runs(pid: str, compiled: list[tuple[Run | _Step, _Member | None]],
               prefilters: list[tuple[str, tuple[str, ...], tuple[str, ...]] | None]
               ) -> list[tuple[Run | _Step, _Member | None]]:
    """Replace each run of >= 2 consecutive prefilterable gsubs on one field
    (processors.gsub_prefilter) by one step that skips them all when the field's string holds
    none of their literals (each would change nothing), else runs them as they are."""
    out: list[tuple[Run | _Step, _Member | None]] = []
    i = 0
    while i < len(compiled):
        pf = prefilters[i]
        j = i + 1
        if pf is not None:
            while j < len(compiled) and (nxt := prefilters[j]) is not None and nxt[0] == pf[0]:
                j += 1
        if pf is None or j - i < 2:
            out.append(compiled[i])
            i += 1
            continue
        runs = _generate(pid, [step for step, _ in compiled[i:j]])
        cs = tuple(dict.fromkeys(lit for p in prefilters[i:j] if p for lit in p[1]))
        ci = tuple(dict.fromkeys(lit for p in prefilters[i:j] if p for lit in p[2]))
        out.append((_gsub_run(pf[0], runs, cs, ci), None))
        i = j
    return out


def _gsub_run(field: str, runs: Run, cs: tuple[str, ...], ci: tuple[str, ...]) -> Run:
    def gsubs(doc: IngestDoc) -> None:
        try:
            v = peek_field(doc, field)
        except ProcessorFailure:
            v = None  # the members fail (or ignore) as they would
        if type(v) is str and not any(lit in v for lit in cs):
            if not ci:
                return
            low = lowered(v)
            if not any(lit in low for lit in ci):
                return
        runs(doc)
    gsubs.__doc__ = f"gsubs on {field}"
    return gsubs


def _dispatcher(pid: str, members: list[_Member]) -> Run:
    index: dict[str | None, list[int]] = {}
    for n, m in enumerate(members):
        index.setdefault(m.key.literal, []).append(n)
    table = {k: tuple(v) for k, v in index.items()}
    bodies = tuple(m.body for m in members)
    tags = tuple(m.tag for m in members)
    read = members[0].key.read
    count = len(members)

    def failed(exc: Exception, at: int) -> ProcessorFailure:
        f = _failure(exc)
        f.processor_type, f.tag, f.pipeline = "conditional", tags[at], pid
        return f

    def dispatch(doc: IngestDoc) -> None:
        try:
            v = read(doc.src)
        except Exception as exc:  # noqa: BLE001 - as the first member's condition fails
            raise failed(exc, 0) from None
        at = 0
        while True:
            if v is not None and type(v) is not str:
                return  # `==` with a string or null literal is false for every member
            todo = table.get(v)
            if todo is None:
                return
            k = bisect_left(todo, at)
            if k == len(todo):
                return
            n = todo[k]
            bodies[n](doc)
            at = n + 1
            if at == count:
                return
            try:
                v = read(doc.src)
            except Exception as exc:  # noqa: BLE001 - as the next member's condition fails
                raise failed(exc, at) from None
    dispatch.__doc__ = f"switch on {'.'.join(k for k, _ in members[0].key.path)}: {tags[0]} and {count - 1} more"
    return dispatch


class Executor:
    """Compiled pipelines by id. Build through siem_pack.ingest.pipeline.load_pipelines."""

    def __init__(self, bodies: Mapping[str, Mapping[str, Any]], sources: Mapping[str, str] | None = None,
                 geoip_db: Path | None = None) -> None:
        self.bodies = dict(bodies)
        self.geoip_db = geoip_db
        self.sources = dict(sources or {})
        self._compiled: dict[str, Callable[[IngestDoc], None]] = {}
        problems: list[SiemPackError] = []
        for pid, body in self.bodies.items():
            try:
                self._compiled[pid] = self._compile_pipeline(pid, body, problems)
            except ContentError as exc:
                problems.append(exc)
        collect(problems)

    # -- compile ----------------------------------------------------------------------
    def _where(self, pid: str) -> str:
        return self.sources.get(pid, pid)

    def _compile_pipeline(self, pid: str, body: Mapping[str, Any], problems: list[SiemPackError]) -> Callable[[IngestDoc], None]:
        where = self._where(pid)
        if not isinstance(body, Mapping):
            raise ContentError("a pipeline body must be a mapping with `processors`", where=where)
        unknown = set(body) - {"description", "processors", "on_failure", "_meta", "version", "deprecated"}
        if unknown:
            problems.append(ContentError(f"unknown pipeline keys {sorted(unknown)}; known: description, processors, "
                                         "on_failure, _meta, version", where=where))
        procs = body.get("processors")
        if not isinstance(procs, list):
            raise ContentError("[processors] required property is missing (a list)", where=where)
        steps = self._compile_list(pid, procs, f"{where}: processors", problems)
        handlers = self._compile_list(pid, body.get("on_failure") or [], f"{where}: on_failure", problems)

        if not body.get("on_failure"):
            return steps

        def run(doc: IngestDoc) -> None:
            try:
                steps(doc)
            except ProcessorFailure as f:
                _run_on_failure(doc, f, handlers)
        return run

    def _compile_list(self, pid: str, procs: Any, where: str, problems: list[SiemPackError]) -> Run:
        if not isinstance(procs, list):
            problems.append(ContentError("must be a list of processors", where=where))
            return _nothing
        specs: list[_Step] = []
        prefilters: list[tuple[str, tuple[str, ...], tuple[str, ...]] | None] = []
        for i, proc in enumerate(procs):
            try:
                specs.append(self._compile_one(pid, proc, f"{where}[{i}]", problems))
            except ContentError as exc:
                problems.append(exc)
                continue
            prefilters.append(gsub_prefilter(proc.get("gsub")) if isinstance(proc, Mapping) and len(proc) == 1 else None)
        compiled: list[tuple[Run | _Step, _Member | None]] = [(sp, sp.member) for sp in specs]
        return _generate(pid, _dispatch_groups(pid, _gsub_runs(pid, compiled, prefilters)))

    def _compile_one(self, pid: str, proc: Any, where: str, problems: list[SiemPackError]) -> _Step:
        if not isinstance(proc, Mapping) or len(proc) != 1:
            raise ContentError("a processor is a mapping with exactly one key, its type", where=where)
        ((ptype, conf),) = proc.items()
        conf = conf if conf is not None else {}
        if not isinstance(conf, Mapping):
            raise ContentError(f"processor [{ptype}] options must be a mapping", where=where)
        tag = conf.get("tag")
        where = f"{where} {ptype}" + (f" tag={tag}" if tag else "")
        if ptype not in PROCESSORS:
            hint = (" (Painless scripts are not supported: only `if` conditions, see docs/ingest.md)"
                    if ptype == "script" else "")
            raise ContentError(f"unknown processor [{ptype}]{hint}; supported: {', '.join(sorted(PROCESSORS))}",
                               where=where)
        cond_src = conf.get("if")
        ast = None
        if cond_src is not None:
            if isinstance(cond_src, Mapping):
                cond_src = cond_src.get("source")
            if not isinstance(cond_src, str):
                raise ContentError("[if] must be a Painless condition string", where=where)
            ast = parse(cond_src, where)
        ignore_failure = bool(conf.get("ignore_failure", False))
        handlers = self._compile_list(pid, conf.get("on_failure") or [], f"{where} on_failure", problems)
        has_handlers = bool(conf.get("on_failure"))
        c = Conf(ptype, {k: v for k, v in conf.items() if k not in COMMON}, where)
        c.known.extend(COMMON)
        build = Build(where=where, compile_processors=lambda ps, w: self._compile_list(pid, ps, w, problems),
                      run_pipeline=self._call_pipeline, pipeline_exists=lambda name: name in self.bodies, geoip_db=self.geoip_db)
        run = PROCESSORS[ptype](c, build)
        why = conf.get("description") or tag
        step = _Step(run, ast, _Meta(pid, ptype, tag, ignore_failure, handlers if has_handlers else None, why,
                                     ast is not None))
        key = dispatch_key(ast) if ast is not None else None
        if key is not None:
            step.member = _Member(key, _generate(pid, [_Step(run, key.rest, step.meta)]), tag)
        return step

    def _call_pipeline(self, name: str, doc: IngestDoc) -> None:
        if name not in self._compiled:
            raise ProcessorFailure(f"Pipeline processor configured for non-existent pipeline [{name}]")
        if name in doc.stack:
            raise ProcessorFailure(f"Cycle detected for pipeline: {name}")
        if len(doc.stack) > MAX_DEPTH:
            raise ProcessorFailure("pipelines nested too deeply")
        doc.stack.append(name)
        try:
            self._compiled[name](doc)
        finally:
            doc.stack.pop()

    # -- run --------------------------------------------------------------------------
    @property
    def ids(self) -> list[str]:
        return sorted(self._compiled)

    def run(self, pipeline_id: str, source: dict[str, Any], timestamp: datetime | None = None) -> Outcome:
        """Run one document (its `_source`, which is mutated in place) through a pipeline."""
        ts = java_instant(timestamp or datetime.now(UTC))
        doc = IngestDoc(source, ts)
        try:
            self._call_pipeline(pipeline_id, doc)
        except Dropped as d:
            return Outcome(None, dropped=True, drop_reason=d.reason, ingest=doc.ingest)
        except ProcessorFailure as f:
            return Outcome(None, error=f.message, error_processor=f.processor_type, error_tag=f.tag, ingest=doc.ingest)
        return Outcome(doc.src, ingest=doc.ingest)
