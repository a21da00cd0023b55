"""Golden files of CDC records: tests/fixtures/cdc/<name>.json.

Run with ``MARMOT_UPDATE_GOLDEN=1`` to (re)write a file after checking the new output by eye.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from marmotdb.cdc.sink import SinkRecord

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "cdc"


def as_json(records: Sequence[SinkRecord]) -> list[dict[str, Any]]:
    return [{"topic": r.topic, "position": r.position,
             "key": None if r.key is None else json.loads(r.key),
             "value": None if r.value is None else json.loads(r.value)} for r in records]


def check_golden(name: str, records: Sequence[SinkRecord]) -> None:
    path = FIXTURES / f"{name}.json"
    got = as_json(records)
    if os.environ.get("MARMOT_UPDATE_GOLDEN"):
        path.write_text(json.dumps(got, indent=1, sort_keys=False) + "\n")
    expected = json.loads(path.read_text())
    assert len(got) == len(expected), f"{name}: {len(got)} records, golden has {len(expected)}"
    for i, (g, e) in enumerate(zip(got, expected)):
        assert g == e, f"{name}: record {i} differs from the golden file {path}"
