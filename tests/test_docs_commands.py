"""The docs stay true: every `siem-pack …` command line in a code block of the README or
docs/ names a command (and subcommand) the CLI really has, and its options exist."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from siem_pack.cli import main
from siem_pack.paths import content_root

ROOT = content_root()
FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"```[a-z]*\n(.*?)```", re.S)


def _command_lines(path: Path) -> list[str]:
    out = []
    for block in FENCE.findall(path.read_text()):
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            line = line.strip().removeprefix("$ ")
            if line.startswith("siem-pack "):
                out.append(line.split(" #", 1)[0].split("|", 1)[0].split("&&", 1)[0].strip())
            elif "&& siem-pack " in line:
                out.append("siem-pack " + line.split("&& siem-pack ", 1)[1].strip())
    return out


def _check(line: str) -> str | None:
    try:
        words = shlex.split(line)[1:]
    except ValueError:
        words = line.split()[1:]
    cmd: click.Command = main
    ctx = click.Context(main)
    for word in words:
        if word.startswith("-"):
            name = word.split("=", 1)[0].rstrip(";,.)")
            known = {o for p in cmd.get_params(ctx) for o in (*p.opts, *p.secondary_opts)}
            if name not in known:
                return f"{line!r}: {cmd.name} has no option {name}"
            continue
        if isinstance(cmd, click.Group):
            sub = cmd.get_command(ctx, word)
            if sub is None:
                return f"{line!r}: no command {word!r} under {cmd.name}"
            cmd = sub
        # other words are arguments or option values
    return None


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_documented_command_lines_exist(path: Path) -> None:
    problems = [p for p in (_check(line) for line in _command_lines(path)) if p]
    assert problems == []
