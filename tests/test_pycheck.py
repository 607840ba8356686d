"""Checks beyond parsing for Python answers (issue 10, item 8): undefined names by ruff's pyflakes
rules and imports that do not resolve in the workspace's interpreter; the next tier is told."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from coding_director import CodingDirector
from coding_director.context import extract_from_file
from coding_director.routing.pycheck import (
    PythonChecker,
    PythonEnvironment,
    imports_of,
    module_level_names,
    python_environment,
)

from tests.emulator import OllamaEmulator
from tests.helpers import GOOD_PY, TIER_MODELS, add_team, chat_calls, team_settings

BLACK_SCHOLES = "Provide a Python implementation of the Black-Scholes formula."

#: What the small instruct model answered (issue 10): parses, but uses an undefined ``i``.
UNDEFINED_I = """Here is the implementation:
```python
import math
from statistics import NormalDist


def black_scholes_call(s, k, t, r, sigma):
    d1 = (math.log(s / k) + (r + sigma**2 / 2) * t) / (sigma * math.sqrt(t))
    d2 = d1 - sigma * math.sqrt(t)
    n = NormalDist()
    return s * n.cdf(d1) - k * math.exp(-r * t) * n.cdf(d2) * i
```
"""
#: ``expit`` is not in ``statistics`` (as it is not in ``scipy.stats``): the import does not resolve.
BAD_IMPORT = UNDEFINED_I.replace("from statistics import NormalDist", "from statistics import NormalDist, expit")
BAD_IMPORT = BAD_IMPORT.replace(" * i\n", "\n")
#: A correct answer using numerical standard-library imports.
CORRECT = UNDEFINED_I.replace(" * i\n", "\n").replace(
    "import math\n", "import math\nimport cmath\nfrom collections.abc import Sequence\nfrom fractions import Fraction\n"
)


async def ask(emu: OllamaEmulator, prompt: str = BLACK_SCHOLES, context: object = None, **overrides: object):  # type: ignore[no-untyped-def]
    director = CodingDirector(team_settings(emu.url, **overrides))
    try:
        return await director.aget_assistance(prompt, context)  # type: ignore[arg-type]
    finally:
        await director.aclose()


async def test_an_undefined_name_is_rejected_and_the_next_tier_is_told(ollama_emulator: OllamaEmulator) -> None:
    add_team(ollama_emulator, math=UNDEFINED_I, senior=CORRECT)
    result = await ask(ollama_emulator)
    assert [(a.tier, a.outcome) for a in result.attempts] == [("math", "rejected"), ("senior", "accepted")]
    assert result.attempts[0].reason == "undefined name 'i' (F821) at line 9"
    senior_prompt = chat_calls(ollama_emulator, TIER_MODELS["senior"])[0]["messages"][-1]["content"]
    assert "undefined name 'i' (F821)" in senior_prompt
    assert result.answer == CORRECT


async def test_an_import_that_does_not_resolve_is_rejected_and_the_next_tier_is_told(
    ollama_emulator: OllamaEmulator,
) -> None:
    add_team(ollama_emulator, math=BAD_IMPORT, senior=CORRECT)
    result = await ask(ollama_emulator)
    assert [(a.tier, a.outcome) for a in result.attempts] == [("math", "rejected"), ("senior", "accepted")]
    reason = result.attempts[0].reason or ""
    assert reason.startswith(
        "import 'statistics.expit' does not resolve: module 'statistics' has no attribute or submodule 'expit'"
    )
    senior_prompt = chat_calls(ollama_emulator, TIER_MODELS["senior"])[0]["messages"][-1]["content"]
    assert "import 'statistics.expit' does not resolve" in senior_prompt


async def test_a_missing_package_is_named(ollama_emulator: OllamaEmulator) -> None:
    answer = CORRECT.replace("import cmath\n", "import cmath\nimport scipy_is_not_installed_here.stats\n")
    add_team(ollama_emulator, math=answer)
    result = await ask(ollama_emulator)
    reason = result.attempts[0].reason or ""
    assert reason.startswith(
        "import 'scipy_is_not_installed_here.stats' does not resolve: no module named 'scipy_is_not_installed_here'"
    )


async def test_a_correct_answer_with_standard_library_imports_is_accepted(ollama_emulator: OllamaEmulator) -> None:
    add_team(ollama_emulator, math=CORRECT)
    result = await ask(ollama_emulator)
    assert [(a.tier, a.outcome) for a in result.attempts] == [("math", "accepted")]


async def test_a_fix_may_use_the_files_module_level_names(ollama_emulator: OllamaEmulator, tmp_path: Path) -> None:
    source = tmp_path / "pricing.py"
    source.write_text(
        "import math\nfrom decimal import Decimal as D\n\nRATE = 0.05\n\n\ndef helper(x):\n    return x * 2\n\n\n"
        "def price(amount):\n    return amount * (1 + RATE\n",
        encoding="utf-8",
    )
    fix = "```python\ndef price(amount):\n    return helper(D(amount)) * (1 + RATE) * math.e\n```\nClosed the paren."
    add_team(ollama_emulator, lead=fix)
    context = extract_from_file(str(source), 12, 5, token_budget=2000)
    # The check is under test, not the routing: whichever chain "price" goes to starts at the lead.
    routing = {"router": "offline", "math_chain": ["lead", "senior", "principal"]}
    result = await ask(ollama_emulator, "Fix this function", context, routing=routing)
    assert [(a.tier, a.outcome) for a in result.attempts] == [("lead", "accepted")]
    # ...but a name the file does not bind is still an error.
    ollama_emulator.add_model(
        ollama_emulator.get_model(TIER_MODELS["lead"]).__class__(  # type: ignore[union-attr]
            name=TIER_MODELS["lead"], reply=fix.replace("helper(", "halper(")
        )
    )
    result = await ask(ollama_emulator, "Fix this function", context, routing=routing)
    assert result.attempts[0].tier == "lead"
    assert result.attempts[0].reason == "undefined name 'halper' (F821) at line 2"


async def test_python_checks_can_be_turned_off(ollama_emulator: OllamaEmulator) -> None:
    add_team(ollama_emulator, math=UNDEFINED_I)
    result = await ask(ollama_emulator, checks={"python": False})
    assert [(a.tier, a.outcome) for a in result.attempts] == [("math", "accepted")]


async def test_usage_blocks_see_earlier_blocks_and_other_languages_are_ignored() -> None:
    checker = PythonChecker(python_environment(None), language="python", reject_rules=("F821",))
    answer = "```python\ndef add(a, b):\n    return a + b\n```\nUse it:\n```python\nprint(add(1, 2))\n```\n"
    answer += "```js\nconsole.log(undefinedThing)\n```\n"
    assert await checker(answer) is None
    assert (
        await checker(answer.replace("print(add", "print(sub"))
        == "undefined name 'sub' (F821) at line 1 of code block 2"
    )


async def test_a_check_that_cannot_run_accepts_and_says_why(tmp_path: Path) -> None:
    env = PythonEnvironment(str(tmp_path / "no-such-python"))
    checker = PythonChecker(env, language="python", ruff=str(tmp_path / "no-such-ruff"))
    assert await checker(BAD_IMPORT) is None
    assert any("ruff" in n for n in checker.notes) and any("no-such-python" in n for n in checker.notes)


def test_optional_and_relative_imports_are_not_required() -> None:
    code = (
        "try:\n    import ujson as json\nexcept ImportError:\n    import json\n"
        "from . import sibling\nimport os.path\nfrom math import *\n"
    )
    assert [(u.module, u.names) for u in imports_of(code)] == [("json", ()), ("os.path", ()), ("math", ())]


def test_module_level_names_of_broken_and_valid_files() -> None:
    broken = (
        "import os, re as regex\nfrom x import (a, b as c)\nX: int = 1\nA, B = 1, 2\ndef f(:\nclass K:\n    y = 2\n"
    )
    assert module_level_names(broken) >= {"os", "regex", "X", "A", "B", "f", "K"}
    assert "y" not in module_level_names(broken)
    assert module_level_names("import a.b\nfor i in range(3):\n    pass\n") == {"a", "i"}


def test_the_workspace_venv_is_preferred(tmp_path: Path) -> None:
    python = tmp_path / ".venv" / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    python.parent.mkdir(parents=True)
    python.symlink_to(sys.executable)
    (tmp_path / "pkg").mkdir()
    doc = tmp_path / "pkg" / "mod.py"
    env = python_environment("/opt/configured/python", None, doc)
    assert env.interpreter == str(python)
    assert env.search_paths == (str(tmp_path / "pkg"), str(tmp_path))
    assert python_environment("/opt/configured/python", tmp_path / "pkg").interpreter == "/opt/configured/python"
    assert python_environment(None, tmp_path / "pkg").interpreter == sys.executable


async def test_workspace_modules_resolve_without_being_imported(tmp_path: Path) -> None:
    (tmp_path / "mylib").mkdir()
    (tmp_path / "mylib" / "__init__.py").write_text("raise SystemExit('user code ran')\n", encoding="utf-8")
    checker = PythonChecker(PythonEnvironment(sys.executable, (str(tmp_path),), (str(tmp_path),)), language="python")
    assert await checker("```python\nfrom mylib import anything\n\nanything()\n```") is None
    assert not checker.notes
    assert GOOD_PY  # the team's default answer has no imports at all
