"""Files and folders → records or dead letters (siem_pack.ingest.reader)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from siem_pack.ingest.reader import DeadLetter, Record, follow_file, read_records

REC = {"object": "organization.audit_log", "id": "a1"}


def _records(items: list[Record | DeadLetter]) -> list[str]:
    return [r.text for r in items if isinstance(r, Record)]


def test_ndjson_skips_blank_lines_and_keeps_line_numbers(tmp_path: Path) -> None:
    f = tmp_path / "a.ndjson"
    f.write_text('{"a": 1}\n\n  \n{"b": 2}\r\n{"c": 3}')
    out = list(read_records([f]))
    assert [(r.line, r.text) for r in out if isinstance(r, Record)] == [(1, '{"a": 1}'), (4, '{"b": 2}'), (5, '{"c": 3}')]


def test_json_array_and_pretty_objects_become_compact_records(tmp_path: Path) -> None:
    (tmp_path / "arr.json").write_text(json.dumps([REC, {"x": "é"}], indent=2))
    (tmp_path / "pretty.json").write_text(json.dumps(REC, indent=2) + "\n" + json.dumps({"y": 1}, indent=2))
    out = _records(list(read_records([tmp_path])))
    assert out == ['{"object":"organization.audit_log","id":"a1"}', '{"x":"é"}',
                   '{"object":"organization.audit_log","id":"a1"}', '{"y":1}']


def test_gzip_is_recognised_by_content(tmp_path: Path) -> None:
    f = tmp_path / "logs.bin"
    f.write_bytes(gzip.compress(b'{"a":1}\n{"b":2}\n'))
    assert _records(list(read_records([f]))) == ['{"a":1}', '{"b":2}']


def test_invalid_utf8_and_oversized_lines_are_dead_letters_with_redacted_originals(tmp_path: Path) -> None:
    key = "AKIA" + "ABCDEFGHIJKLMNOP"
    f = tmp_path / "bad.log"
    f.write_bytes(b'{"ok": 1}\n{"bad": "\xff\xfe ' + key.encode() + b'"}\n' + b'{"big": "' + b"x" * 300 + b'"}\n{"ok": 2}\n')
    out = list(read_records([f], max_line_bytes=200))
    dead = [r for r in out if isinstance(r, DeadLetter)]
    assert _records(out) == ['{"ok": 1}', '{"ok": 2}']
    assert [(d.line, d.reason) for d in dead] == [(2, "invalid UTF-8 at byte 9"), (3, "line exceeds 200 bytes")]
    assert key not in dead[0].original and "[REDACTED:aws_access_key_id]" in dead[0].original
    assert len({d.id for d in dead}) == 2


def test_unreadable_file_is_one_dead_letter(tmp_path: Path) -> None:
    f = tmp_path / "broken.gz"
    f.write_bytes(b"\x1f\x8b" + b"not really gzip")
    out = list(read_records([f]))
    assert len(out) == 1 and isinstance(out[0], DeadLetter) and out[0].reason.startswith("cannot read file")


def test_folders_are_read_in_order_without_hidden_files(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "2.log").write_text('{"n":2}\n')
    (tmp_path / "1.log").write_text('{"n":1}\n')
    (tmp_path / ".hidden").write_text('{"n":0}\n')
    assert _records(list(read_records([tmp_path]))) == ['{"n":1}', '{"n":2}']


def test_follow_reads_only_complete_new_lines(tmp_path: Path) -> None:
    f = tmp_path / "grow.ndjson"
    f.write_text('{"n":1}\n{"n":2')
    recs, off, line = follow_file(f, 0)
    assert _records(recs) == ['{"n":1}'] and line == 2
    with f.open("a") as fh:
        fh.write('}\n{"n":3}\n')
    recs, off2, line = follow_file(f, off, first_line=line)
    assert [(r.line, r.text) for r in recs if isinstance(r, Record)] == [(2, '{"n":2}'), (3, '{"n":3}')]
    assert follow_file(f, off2, first_line=line)[0] == []
