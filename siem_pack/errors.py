"""Cross-cutting (shared): the one error family. Every error says where (a file and line, a URL, an
option) and what.

The CLI turns these into one line on stderr and an exit code: `ContentError` and
`FindingsError` exit 1 (the command ran and found something); all others exit 2 (it could
not run). `--debug` shows the traceback.
"""

from __future__ import annotations

from collections.abc import Iterable


class SiemPackError(ValueError):
    """Base: a problem a user can act on. `where` names the place (path:line, URL, option)."""

    exit_code = 2

    def __init__(self, message: str, where: str | None = None) -> None:
        self.where = where
        self.message = message
        super().__init__(f"{where}: {message}" if where else message)


class ConfigError(SiemPackError):
    """A setting is missing or malformed (a flag or SIEM_PACK_* variable)."""


class ClusterError(SiemPackError):
    """The cluster could not be reached, refused our credentials, or is not Elasticsearch."""


class ContentError(SiemPackError):
    """Content (a pipeline, rule, dashboard or inventory file) is invalid."""

    exit_code = 1


class ContentErrors(ContentError):
    """Several content problems, collected so the user sees them all at once."""

    def __init__(self, problems: Iterable[SiemPackError]) -> None:
        self.problems = list(problems)
        lines = [str(p) for p in self.problems]
        super().__init__(f"{len(lines)} problem(s):\n  " + "\n  ".join(lines))


class InputError(SiemPackError):
    """Input data (a log file, an alert id) cannot be used."""


class FindingsError(SiemPackError):
    """The command ran and found something (verify findings, drill below gate)."""

    exit_code = 1


def collect(problems: list[SiemPackError]) -> None:
    """Raise all collected problems together, if any."""
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise ContentErrors(problems)
