"""Stage 3: canonical TOML for detection content (rules, exceptions): one writer, so a file's text
is a function of its data and a test can demand `dumps(tomllib.loads(text)) == text`.

The form: tables in sorted order, separated by one blank line; in a table, plain keys sorted,
then sub-tables, then arrays of tables; strings with a newline as '''literal''' blocks,
strings holding `"` (and no `'`) as 'literal', others as "basic"; arrays on one line when
they fit in 100 characters, else one item per line with a trailing comma; date-times in UTC
with `Z`.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from typing import Any

from ..times import format_ts

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(k: str) -> str:
    return k if _BARE.match(k) else str(json.dumps(k, ensure_ascii=False))


def _str(s: str) -> str:
    if "\n" in s and "'''" not in s:
        return "'''\n" + s + "'''"
    if '"' in s and "'" not in s and "\n" not in s:
        return "'" + s + "'"
    return str(json.dumps(s, ensure_ascii=False))


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return _str(v)
    if isinstance(v, datetime):
        return format_ts(v, "auto")
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, list):
        items = [_value(x) for x in v]
        one = "[" + ", ".join(items) + "]"
        if len(one) <= 100 and "\n" not in one:
            return one
        return "[\n" + "".join(f"    {i},\n" for i in items) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in sorted(v.items())) + "}"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def _is_table_array(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


def _table(name: str, data: dict[str, Any], out: list[str], header: str | None) -> None:
    plain = {k: v for k, v in data.items() if not isinstance(v, dict) and not _is_table_array(v)}
    subs = {k: v for k, v in data.items() if isinstance(v, dict)}
    arrays = {k: v for k, v in data.items() if _is_table_array(v)}
    if header is not None and (plain or not (subs or arrays)):
        out.append(header)
        for k in sorted(plain):
            out.append(f"{_key(k)} = {_value(plain[k])}")
        out.append("")
    for k in sorted(subs):
        full = f"{name}.{_key(k)}" if name else _key(k)
        _table(full, subs[k], out, f"[{full}]")
    for k in sorted(arrays):
        full = f"{name}.{_key(k)}" if name else _key(k)
        for item in arrays[k]:
            _table(full, item, out, f"[[{full}]]")


def dumps(data: dict[str, Any]) -> str:
    out: list[str] = []
    _table("", data, out, None)
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n"
