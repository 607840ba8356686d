"""JSON Schemas of every shape that crosses a boundary, written to ``shared-schemas/``.

The extension's TypeScript types and its ``contributes.configuration`` block are generated from
these files, and a test fails when a file here is stale. Regenerate with
``coding-director schemas --write`` (or ``python -m coding_director schemas --write``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel


def _registry() -> dict[str, type[BaseModel]]:
    """Schema file stem -> model. Imports are local so that importing this module stays cheap."""
    from coding_director.context.models import CodeContext, SyntaxProblem
    from coding_director.features.api_health import HealthReport
    from coding_director.features.openai_api import CodingDirectorInfo
    from coding_director.memory.models import DpoLine, FeedbackParams, SftLine, StatsParams, StatsReport
    from coding_director.messages import ActionData, ChatEvent, ChatParams, PullResult, ServerStats, StatusParams
    from coding_director.results import Assistance, Attempt, PlacementReport, RouteDecision
    from coding_director.settings import Settings

    return {
        "Settings": Settings,
        "RouteDecision": RouteDecision,
        "Attempt": Attempt,
        "Assistance": Assistance,
        "PlacementReport": PlacementReport,
        "ChatParams": ChatParams,
        "ChatEvent": ChatEvent,
        "StatusParams": StatusParams,
        "ActionData": ActionData,
        "PullResult": PullResult,
        "ServerStats": ServerStats,
        "CodeContext": CodeContext,
        "SyntaxProblem": SyntaxProblem,
        "CodingDirectorInfo": CodingDirectorInfo,
        "HealthReport": HealthReport,
        "FeedbackParams": FeedbackParams,
        "StatsParams": StatsParams,
        "StatsReport": StatsReport,
        "SftLine": SftLine,
        "DpoLine": DpoLine,
    }


def schema_of(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12, as pydantic emits it) of ``model`` in its wire (alias) form."""
    schema = model.model_json_schema(by_alias=True, mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://coding-director.dev/schemas/{model.__name__}.schema.json"
    return schema


def render_all() -> dict[str, str]:
    """File name -> file text for every registered model (stable key order, trailing newline)."""
    return {
        f"{name}.schema.json": json.dumps(schema_of(model), indent=2, sort_keys=True) + "\n"
        for name, model in _registry().items()
    }


def default_dir() -> Path:
    """``shared-schemas/`` at the repository root (this file is ``server/coding_director/schemas.py``)."""
    return Path(__file__).resolve().parents[2] / "shared-schemas"


def write_schemas(
    directory: Path | None = None, *, check: bool = False, report: Callable[[str], None] = lambda _msg: None
) -> list[str]:
    """Write (or with ``check=True`` only compare) the schema files in ``directory``.

    Returns the names of the files that were missing or differed (empty when all are current).
    """
    target = directory or default_dir()
    stale = []
    for name, text in render_all().items():
        path = target / name
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current != text:
            stale.append(name)
            if not check:
                target.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
                report(f"wrote {path}")
    return stale
