"""The `siem-pack` command line: a thin layer over the library.

Each command lives in a module of this package that exposes `register(group)`; it parses
options, calls one library function and prints. Errors from the library become one line on
stderr and an exit code (0 done; 1 ran and found something; 2 could not run); `--debug`
shows the traceback.
"""

from __future__ import annotations

import importlib
import os
import traceback
from typing import Any

import click

from .. import __version__
from ..errors import SiemPackError

# one module per command family; each defines register(group)
COMMAND_MODULES = ["doctor", "simulate", "integrity", "deploy", "run", "drill", "dashboards", "report", "audit", "jobs", "schedule", "ingest", "pipelines", "rules", "demo", "respond", "geoip"]


class SiemPackGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SiemPackError as exc:
            if _debug(ctx):
                traceback.print_exc()
            click.echo(f"siem-pack: error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("siem-pack: interrupted", err=True)
            ctx.exit(130)
        except Exception as exc:  # an internal fault: one line, never a raw traceback unless asked
            if _debug(ctx):
                traceback.print_exc()
            click.echo(f"siem-pack: internal error: {type(exc).__name__}: {exc} (run with --debug for details)", err=True)
            ctx.exit(2)


def _debug(ctx: click.Context) -> bool:
    root = ctx.find_root()
    return bool((root.obj or {}).get("debug")) or os.environ.get("SIEM_PACK_DEBUG") == "1"


@click.group(cls=SiemPackGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="siem-pack")
@click.option("--debug", is_flag=True, envvar="SIEM_PACK_DEBUG", help="Show tracebacks on errors.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Continuous auditing of AI model access, on Elasticsearch or on the embedded DuckDB store.

    Exit codes: 0 done; 1 the command ran and found something (content errors, findings,
    pending changes); 2 it could not run (usage, configuration, connection, authentication).
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


for _name in COMMAND_MODULES:
    importlib.import_module(f".{_name}", __name__).register(main)

