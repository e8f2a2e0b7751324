"""Stage 1 → 2: what every ingest processor of the offline executor is built from: the
document in flight (`IngestDoc`), the failure and drop signals, and the load-time inputs of a
factory (`Conf`, the options it pops; `Build`, the context). A `Factory` takes both and returns
the `Run` closure the executor calls per document.

Neighbours: registry.py (name → factory), the processor families (fields.py, convert.py,
dates.py, parse.py, strings.py, flow.py), siem_pack.ingest.executor (builds `Conf`/`Build`).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...errors import ContentError
from .render import java_type

Run = Callable[["IngestDoc"], None]
_MISSING = object()


class ProcessorFailure(Exception):
    """A processor failed on a document. `processor_type`/`tag`/`pipeline` name the innermost
    failing processor (as Elasticsearch reports it in `_ingest.on_failure_*`)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.processor_type: str | None = None
        self.tag: str | None = None
        self.pipeline: str | None = None


class Dropped(Exception):  # noqa: N818 - a signal, not an error
    """The `drop` processor ran: the document is discarded on purpose. `reason` is the drop
    processor's description or tag (the pipeline's reason, reported in the ingest summary)."""

    def __init__(self) -> None:
        super().__init__("dropped")
        self.reason: str | None = None


class IngestDoc:
    """A document in flight: its `_source` and its `_ingest` metadata."""

    __slots__ = ("src", "ingest", "stack")

    def __init__(self, src: dict[str, Any], timestamp: str) -> None:
        self.src = src
        self.ingest: dict[str, Any] = {"timestamp": timestamp}
        self.stack: list[str] = []  # pipelines being run, for cycle detection


class Conf:
    """A processor's options; factories pop what they know, `done()` rejects the rest."""

    def __init__(self, ptype: builtins.str, body: dict[builtins.str, Any], where: builtins.str) -> None:
        self.ptype, self.body, self.where = ptype, dict(body), where
        self.known: list[str] = []

    def _take(self, key: builtins.str, default: Any, required: builtins.bool) -> Any:
        self.known.append(key)
        if self.body.get(key) is None:  # an explicit null is missing too, as the engines read options
            if required:
                raise ContentError(f"[{key}] required property is missing", where=self.where)
            self.body.pop(key, None)
            return default
        return self.body.pop(key)

    def str(self, key: builtins.str, default: builtins.str | None = None, required: builtins.bool = False) -> Any:
        v = self._take(key, default, required and default is None)
        if v is not None and not isinstance(v, str):
            raise ContentError(f"[{key}] property isn't a string, but of type [{java_type(v)}]", where=self.where)
        return v

    def bool(self, key: builtins.str, default: builtins.bool = False) -> builtins.bool:
        v = self._take(key, default, False)
        if isinstance(v, str) and v in ("true", "false"):
            return v == "true"
        if not isinstance(v, bool):
            raise ContentError(f"[{key}] property isn't a boolean", where=self.where)
        return v

    def any(self, key: builtins.str, default: Any = None, required: builtins.bool = False) -> Any:
        return self._take(key, default, required)

    def str_list(self, key: builtins.str, required: builtins.bool = False, default: list[builtins.str] | None = None) -> list[builtins.str]:
        v = self._take(key, default, required)
        if v is None:
            return []
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise ContentError(f"[{key}] property isn't a list of strings", where=self.where)
        return list(v)

    def error(self, msg: builtins.str) -> ContentError:
        return ContentError(msg, where=self.where)

    def done(self) -> None:
        if self.body:
            raise ContentError(
                f"processor [{self.ptype}] doesn't support one or more provided configuration parameters "
                f"[{', '.join(sorted(self.body))}]; supported here (options both Elasticsearch and OpenSearch "
                f"share): {', '.join(sorted(self.known))}", where=self.where)


@dataclass
class Build:
    """Load-time context handed to factories."""

    where: str
    compile_processors: Callable[[list[Any], str], Run]  # nested processors (foreach)
    run_pipeline: Callable[[str, IngestDoc], None]  # the `pipeline` processor
    pipeline_exists: Callable[[str], bool]
    geoip_db: Any = None  # the folder of MaxMind databases for `geoip` (None: SIEM_PACK_GEOIP_DB)


Factory = Callable[[Conf, Build], Run]
