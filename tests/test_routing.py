"""The offline classifier, the router model's strict parsing and fallback, and verification."""

from __future__ import annotations

import pytest
from coding_director.backends import BackendPool
from coding_director.routing.offline import classify
from coding_director.routing.router import RouterAnswerError, parse_router_answer, route
from coding_director.routing.verify import Target, code_blocks, language_mentioned, verify
from coding_director.settings import RoutingSettings

from tests.emulator import OllamaEmulator, ScriptRequest
from tests.helpers import BAD_PY, GOOD_PY, REFUSAL, TIER_MODELS, add_team, chat_calls, closed_port_url, team_settings

#: Speeding code up could be numerical work (vectorising, a better algorithm) or plain
#: engineering: without the code the calibrated confidence is low.
UNSURE = "make it faster"
THRESHOLD = RoutingSettings().confidence_threshold


@pytest.mark.parametrize(
    ("prompt", "domain", "intent"),
    [
        ("Provide a Python implementation of the Black-Scholes formula.", "math", "generate"),
        ("Create a Flask hello-world endpoint.", "general", "generate"),
        ("Compute the eigenvalues of a symmetric matrix", "math", "generate"),
        ("Write a function that integrates f numerically with Simpson's rule", "math", "generate"),
        ("Explain this error", "general", "explain"),
        ("Fix the bug in this loop", "general", "fix"),
        ("write unit tests for parse_header", "general", "test"),
        ("Add a docstring to this function", "general", "docs"),
        ("Add a doc comment to this function.", "general", "docs"),
        ("Refactor this class into smaller functions", "general", "refactor"),
        ("Review my code for problems", "general", "review"),
        ("What is a closure in JavaScript?", "general", "explain"),
        ("which http status code for a validation error", "general", "question"),
        ("my flask app leaks database connections, how to track it down", "general", "debug"),
        ("monolith or microservices for a small team", "general", "arch"),
        ("Why does this crash on empty input?", "general", "debug"),
        ("Estimate pi with a Monte Carlo simulation", "math", "generate"),
    ],
)
def test_offline_classifier(prompt: str, domain: str, intent: str) -> None:
    decision = classify(prompt)
    assert (decision.domain, decision.intent) == (domain, intent)
    assert 0.0 <= decision.confidence <= 1.0


def test_offline_confidence_orders_clear_and_unclear_prompts() -> None:
    assert classify("Provide a Python implementation of the Black-Scholes formula.").confidence >= 0.9
    assert classify("Create a Flask hello-world endpoint.").confidence >= 0.8
    assert classify(UNSURE).confidence < THRESHOLD


def test_numerical_imports_in_the_code_context_count_for_math() -> None:
    # Issue 10: the code context counts. "Make it faster" alone is unsure; on an arithmetic loop, and
    # more so with numpy imported, it is numerical work (routing/README.md: vectorising numerical
    # code is math).
    prompt = UNSURE
    loop = "def scale(rows, w):\n    out = []\n    for r in rows:\n        out.append([a * b for a, b in zip(r, w)])\n"
    plain, selected = classify(prompt), classify(prompt, loop)
    with_numpy = classify(prompt, loop, ["import numpy as np"])
    assert plain.confidence < RoutingSettings().confidence_threshold  # unsure: the router model is asked
    p_math = [d.confidence if d.domain == "math" else 1 - d.confidence for d in (plain, selected, with_numpy)]
    assert with_numpy.domain == "math" and p_math[2] > p_math[1] > p_math[0]


@pytest.mark.parametrize("text", ["math", "General", " `math` ", "general.", '{"domain": "math"}', "**general**"])
def test_router_answer_parsing_accepts_strict_forms(text: str) -> None:
    assert parse_router_answer(text) in ("math", "general")


@pytest.mark.parametrize("text", ["", "maths", "math or general", "I think this is math", '{"domain": "code"}', "42"])
def test_router_answer_parsing_rejects_everything_else(text: str) -> None:
    with pytest.raises(RouterAnswerError):
        parse_router_answer(text)


async def _route(url: str, prompt: str, mode: str):  # type: ignore[no-untyped-def]
    settings = team_settings(url, routing={"router": mode})
    pool = BackendPool(settings)
    try:
        return await route(settings, pool, prompt)
    finally:
        await pool.aclose()


async def test_auto_mode_asks_the_router_model_only_when_unsure(ollama_emulator: OllamaEmulator) -> None:
    offline = classify(UNSURE)
    assert offline.confidence < THRESHOLD
    other = "general" if offline.domain == "math" else "math"
    add_team(ollama_emulator, router=other)
    sure = await _route(ollama_emulator.url, "Create a Flask hello-world endpoint.", "auto")
    assert sure.decided_by == "offline" and not chat_calls(ollama_emulator, TIER_MODELS["router"])
    unsure = await _route(ollama_emulator.url, UNSURE, "auto")
    assert unsure.decided_by == "model" and unsure.domain == other
    assert "overrides" in (unsure.reason or "")
    assert len(chat_calls(ollama_emulator, TIER_MODELS["router"])) == 1


async def test_model_mode_always_asks_and_offline_mode_never(ollama_emulator: OllamaEmulator) -> None:
    def answer(req: ScriptRequest) -> str:
        return "math" if "Black-Scholes" in req.prompt else "general"

    add_team(ollama_emulator, router={"reply": answer})
    decided = await _route(
        ollama_emulator.url, "Provide a Python implementation of the Black-Scholes formula.", "model"
    )
    assert decided.decided_by == "model" and decided.domain == "math"
    offline = await _route(ollama_emulator.url, UNSURE, "offline")
    assert offline.decided_by == "offline"
    assert len(chat_calls(ollama_emulator, TIER_MODELS["router"])) == 1


async def test_nonsense_from_the_router_keeps_the_offline_decision(ollama_emulator: OllamaEmulator) -> None:
    add_team(ollama_emulator, router="Well, it depends on what you mean by math.")
    decision = await _route(ollama_emulator.url, UNSURE, "model")
    assert decision.decided_by == "offline" and decision.domain == classify(UNSURE).domain
    assert "offline decision kept" in (decision.reason or "") and "depends" in (decision.reason or "")


async def test_missing_or_dead_router_keeps_the_offline_decision(ollama_emulator: OllamaEmulator) -> None:
    add_team(ollama_emulator, router=None)
    missing = await _route(ollama_emulator.url, UNSURE, "model")
    assert missing.decided_by == "offline" and "404" in (missing.reason or "")
    dead = await _route(closed_port_url(), UNSURE, "model")
    assert dead.decided_by == "offline" and "cannot reach" in (dead.reason or "")


def test_code_blocks_and_languages() -> None:
    blocks = code_blocks("a\n```py\nx = 1\n```\nb\n~~~\nraw\n~~~\n```rust\nfn main() {\n")
    assert [(b.tag, b.code, b.closed) for b in blocks] == [
        ("py", "x = 1", True),
        ("", "raw", True),
        ("rust", "fn main() {", False),
    ]
    assert [(b.start_line, b.end_line) for b in blocks] == [(1, 4), (5, 8), (8, 10)]
    assert language_mentioned("a Flask endpoint") == "python"


def test_code_blocks_follow_commonmark() -> None:
    # A fence inside a list item, a longer fence holding a shorter one, a closing fence longer
    # than the opening one, and an info string with attributes.
    answer = (
        "1. Fix it:\n   ```python title=fix.py\n   x = 1\n   ```\n\n"
        "````md\n```\ninner\n```\n````\n"
        "~~~ js\nlet a = 1;\n~~~~~\n"
    )
    blocks = code_blocks(answer)
    assert [(b.tag, b.code, b.closed) for b in blocks] == [
        ("python", "x = 1", True),
        ("md", "```\ninner\n```", True),
        ("js", "let a = 1;", True),
    ]
    # Inline code and a fence indented as a code block (4 spaces) are not fenced blocks.
    assert code_blocks("use `x` here\n\n    ```python\n    y = 2\n    ```\n") == []
    assert language_mentioned("in TypeScript please") == "typescript"
    assert language_mentioned("a JavaScript closure") == "javascript"
    assert language_mentioned("write it in Java") == "java"


#: Real code with many short repeated lines (``return None``, ``else:``): not a loop.
LOOP_FREE_CODE = (
    "```python\n"
    + "".join(
        f"def field_{i}(value):\n    if value is None:\n        return None\n    else:\n        return value * {i}\n\n"
        for i in range(12)
    )
    + "```\n"
)


@pytest.mark.parametrize(
    ("answer", "intent", "language", "reason"),
    [
        (GOOD_PY, "generate", None, None),
        (BAD_PY, "generate", None, "python code block does not parse"),
        ("```\ndef f(:\n```", "fix", "python", "python code block does not parse"),
        ("```\ndef f(:\n```", "fix", None, None),  # unknown language: cannot check
        ("```js\nconst x = {;\n```", "refactor", None, "javascript code block does not parse"),
        ("```go\npackage main\nfunc main() {\n```", "generate", None, "go code block does not parse"),
        ("```bash\nls -la ((\n```", "generate", None, None),  # shell is not checked
        ("no code at all", "generate", None, "no code block in the answer"),
        ("no code at all", "explain", None, None),
        ("Docs are below, no code.", "docs", None, None),
        (REFUSAL, "explain", None, "refusal"),
        ("I'm sorry for the delay!\n```python\nx = 1\n```", "generate", None, None),
        ("", "question", None, "empty answer"),
        # What Gemma 3 270M (a base model) answered to a chat request: the prompt, looped.
        ("Create a Flask hello-world endpoint. mendatang\n場所にuser\n" * 10, "explain", None, "generation loop"),
        ("the same phrase " * 40, "question", None, "generation loop"),
        (LOOP_FREE_CODE, "generate", "python", None),
    ],
)
def test_verify(answer: str, intent: str, language: str | None, reason: str | None) -> None:
    got = verify(answer, Target(intent=intent, language=language))
    if reason is None:
        assert got is None
    else:
        assert got is not None and got.startswith(reason)


ECHO_PROMPT = """Code context:
File: requests/sessions.py (python)
Cursor: line 66, column 1
Enclosing: module sessions > function merge_setting (lines 61-88)
```python
def merge_setting(request_setting, session_setting, dict_class=OrderedDict):
    if session_setting is None:
        return request_setting
```
Request: Explain what this function does."""


def test_an_answer_that_copies_the_request_back_is_an_echo() -> None:
    target = Target(intent="explain", language="python", prompt_text=ECHO_PROMPT)
    # What Gemma 3 270M (base) answered: the prompt, continued.
    echo = ECHO_PROMPT.split("Request:")[0] + "## Focus: merge_setting\n"
    assert (verify(echo, target) or "").startswith("the answer echoes the request: 4 of 5 lines")
    explanation = (
        "It merges a per-request setting with the session's.\n"
        "When the session has no value, the request's wins; dictionaries are merged key by key,\n"
        "and keys set to None are removed from the result."
    )
    assert verify(explanation, target) is None
    # A fix repeats the code it fixes inside a code block: not an echo.
    fix = "Fixed:\n```python\n" + ECHO_PROMPT.split("```python\n")[1].split("```")[0] + "```\nThat is all of it."
    assert verify(fix, Target(intent="fix", language="python", prompt_text=ECHO_PROMPT)) is None
    assert verify(echo, Target(intent="explain")) is None  # without the prompt the check is off


def test_verify_runs_extra_checks_last() -> None:
    target = Target(intent="fix", language="python", extra_checks=(lambda _a: "splice breaks the file",))
    assert verify(GOOD_PY, target) == "splice breaks the file"
    assert verify(BAD_PY, target) is not None and "does not parse" in (verify(BAD_PY, target) or "")
