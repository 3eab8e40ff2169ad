"""Report writers. Every format takes the same report object (a JSON-ready dict with a `schema` key)."""
from __future__ import annotations

import json
from typing import Any

from ..escape import json_text


def dumps_json(report: dict[str, Any]) -> str:
    """Deterministic JSON: sorted keys, fixed separators, trailing newline."""
    return json_text(json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


# Where reports go, and disk faults as input errors: audit/outputs.py (re-exported for the writers' callers),
# imported on first use: it brings tempfile and shutil, which a scan that only serialises never needs.
def __getattr__(name: str):
    if name in ("check_output", "write_output"):
        from .. import outputs
        return getattr(outputs, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class JsonFormat:
    name, suffix = "json", ".json"

    def render(self, report) -> str:
        return dumps_json(report.to_json())


FORMAT = JsonFormat()
