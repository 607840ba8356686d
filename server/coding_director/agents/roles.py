"""The roles of a task: their system prompts and the structured answers they must give.

Structured answers are checked like every other answer: a planner whose answer holds no valid plan,
or a reviewer whose findings do not parse, is *rejected* with a reason and the role escalates to the
next tier of its chain, which is told why (:mod:`coding_director.routing.escalation`).
"""

from __future__ import annotations

import json
import re
from typing import Literal

from pydantic import Field, ValidationError

from coding_director.agents.edits import DIVIDER, NO_CHANGES, REPLACE_MARK, SEARCH_MARK
from coding_director.wire import WireModel

Role = Literal["planner", "coder", "tester", "debugger", "reviewer", "documenter", "refactorer"]

_EDIT_FORMAT = (
    "Give every change as a search/replace block: the file's path alone on one line, then\n"
    f"{SEARCH_MARK}\nlines copied exactly from the current file (empty to create a new file)\n{DIVIDER}\n"
    f"the new lines\n{REPLACE_MARK}\n"
    "Each SEARCH text must match exactly one place in the file. Use as many blocks as needed."
)

SYSTEM_PROMPTS: dict[str, str] = {
    "planner": (
        "You are the planner of a team of coding models working in a developer's repository. "
        "Read the task and the files shown, then answer with one JSON object only, in a ```json block: "
        '{"files": [paths to change or create], "steps": [short imperative steps], "test": "how the '
        'change is tested"}. Keep the plan small: the fewest files and steps that do the task.'
    ),
    "coder": "You are the coder of a team of coding models. Carry out the plan on the files shown. " + _EDIT_FORMAT,
    "tester": (
        "You are the tester of a team of coding models. Write or update unit tests, in the project's "
        "test framework, that check the change just made. " + _EDIT_FORMAT + f"\nIf the existing tests "
        f"already cover the change, answer exactly {NO_CHANGES}."
    ),
    "debugger": (
        "You are the debugger of a team of coding models. The tests failed; their real output is shown. "
        "Find the cause in the code (or in a wrong test) and fix it. " + _EDIT_FORMAT
    ),
    "reviewer": (
        "You are the reviewer of a team of coding models. Review the diff for bugs, missed requirements "
        "and risky changes. Answer with one JSON array only, in a ```json block, of findings "
        '{"severity": "blocking" or "minor", "file": path or null, "message": "..."}; '
        "[] when there is nothing to say. Mark blocking only what must change before the diff lands."
    ),
    "documenter": (
        "You are the documenter of a team of coding models. Update docstrings, comments and the README "
        "where the change calls for it, and nothing else; never change behaviour. " + _EDIT_FORMAT + f"\n"
        f"If no documentation needs to change, answer exactly {NO_CHANGES}."
    ),
    "refactorer": (
        "You are the refactorer of a team of coding models. Restructure the code as asked without "
        "changing its behaviour. " + _EDIT_FORMAT
    ),
}


class Plan(WireModel):
    """The planner's answer: ``files`` to touch (workspace-relative paths), ordered ``steps`` and how
    the change is to be tested (``test``)."""

    files: list[str] = Field(default_factory=list)
    steps: list[str] = Field(min_length=1)
    test: str = ""


class Finding(WireModel):
    """One reviewer finding. ``blocking`` findings send the coder back once."""

    severity: Literal["blocking", "minor"]
    file: str | None = None
    message: str = Field(min_length=1)


_JSON_BLOCK = re.compile(r"```(?:json)?[ \t]*\n(.*?)```", re.DOTALL)


def _json_payload(answer: str) -> object:
    """The JSON value of ``answer``: its first fenced (json) block, else the whole answer.
    Raises ``ValueError`` when neither parses."""
    candidates = [m.group(1) for m in _JSON_BLOCK.finditer(answer)] + [answer.strip()]
    for text in candidates:
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            continue
    raise ValueError("no JSON value found (answer with one ```json block)")


def _first_error(error: ValidationError) -> str:
    item = error.errors()[0]
    where = ".".join(str(part) for part in item["loc"]) or "value"
    return f"{where}: {item['msg']}"


def parse_plan(answer: str) -> Plan:
    """The :class:`Plan` in ``answer``. Raises ``ValueError`` with a one-line reason for the model."""
    payload = _json_payload(answer)
    try:
        return Plan.model_validate(payload)
    except ValidationError as exc:
        raise ValueError(f"the plan is not valid: {_first_error(exc)}") from None


def parse_findings(answer: str) -> list[Finding]:
    """The reviewer's findings in ``answer``. Raises ``ValueError`` with a one-line reason."""
    payload = _json_payload(answer)
    if isinstance(payload, dict) and "findings" in payload:
        payload = payload["findings"]
    if not isinstance(payload, list):
        raise ValueError("the review must be a JSON array of findings")
    try:
        return [Finding.model_validate(item) for item in payload]
    except ValidationError as exc:
        raise ValueError(f"a finding is not valid: {_first_error(exc)}") from None
