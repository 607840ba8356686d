"""The command line, run as a user runs it (a subprocess), against the Ollama emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import ollama
from coding_director.routing.offline import classify

from tests.emulator import OllamaEmulator, ScriptedModel
from tests.helpers import BAD_PY, TIER_MODELS, add_team, closed_port_url

BLACK_SCHOLES = "Provide a Python implementation of the Black-Scholes formula."


def config(tmp_path: Path, url: str, router: str = "offline", extra: str = "") -> Path:
    tiers = "".join(f'[tiers.{tier}]\nmodel = "{model}"\n' for tier, model in TIER_MODELS.items())
    path = tmp_path / "coding-director.toml"
    path.write_text(f'[ollama]\nhost = "{url}"\n{tiers}[routing]\nrouter = "{router}"\n{extra}', encoding="utf-8")
    return path


def run(*args: str, stdin: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CODING_DIRECTOR_", "OLLAMA_"))}
    return subprocess.run(
        [sys.executable, "-m", "coding_director", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=cwd,
    )


def test_ask_json_shows_rejected_lead_and_accepted_senior(ollama_emulator: OllamaEmulator, tmp_path: Path) -> None:
    add_team(ollama_emulator, lead=BAD_PY)
    proc = run(
        "ask",
        "--config",
        str(config(tmp_path, ollama_emulator.url)),
        "--json",
        "Write a Python function that adds two numbers.",
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert set(result) >= {"answer", "route", "attempts", "finalTier"}
    lead, senior = result["attempts"]
    assert (lead["tier"], lead["outcome"]) == ("lead", "rejected") and "does not parse" in lead["reason"]
    assert (senior["tier"], senior["outcome"]) == ("senior", "accepted") and "latencyMs" in senior
    assert result["finalTier"] == "senior"
    assert set(result["route"]) >= {"domain", "intent", "confidence", "decidedBy"}


def test_ask_math_prompt_routes_to_math(ollama_emulator: OllamaEmulator, tmp_path: Path) -> None:
    add_team(ollama_emulator)
    proc = run("ask", "--config", str(config(tmp_path, ollama_emulator.url, router="auto")), "--json", BLACK_SCHOLES)
    result = json.loads(proc.stdout)
    assert result["route"]["domain"] == "math" and result["attempts"][0]["tier"] == "math"
    assert result["finalTier"] == "math"


def test_ask_missing_lead_escalates_with_404(ollama_emulator: OllamaEmulator, tmp_path: Path) -> None:
    add_team(ollama_emulator, lead=None)
    proc = run(
        "ask", "--config", str(config(tmp_path, ollama_emulator.url)), "--json", "Create a Flask hello-world endpoint."
    )
    result = json.loads(proc.stdout)
    assert result["attempts"][0]["outcome"] == "error" and "404" in result["attempts"][0]["reason"]
    assert result["attempts"][1]["outcome"] == "accepted"


def test_ask_streams_text_and_notes_escalation(ollama_emulator: OllamaEmulator, tmp_path: Path) -> None:
    add_team(ollama_emulator, lead=BAD_PY)
    proc = run("ask", "--stream", "--config", str(config(tmp_path, ollama_emulator.url)), "Write a Python add function")
    assert proc.returncode == 0
    assert "def add(a, b):" in proc.stdout
    assert "lead rejected: python code block does not parse" in proc.stderr
    assert "senior:accepted" in proc.stderr


def test_ask_dead_endpoint_gives_one_clear_message(tmp_path: Path) -> None:
    proc = run("ask", "--config", str(config(tmp_path, closed_port_url())), "Create a Flask hello-world endpoint.")
    assert proc.returncode == 3
    error_lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and "cannot reach Ollama" in error_lines[0]
    assert "fix: start Ollama (`ollama serve`)" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_ask_with_file_context(ollama_emulator: OllamaEmulator, tmp_path: Path) -> None:
    add_team(ollama_emulator, lead="It adds numbers.", math="It adds numbers.")
    source = tmp_path / "calc.py"
    source.write_text(
        "import math\n\n\nclass Calc:\n    def add(self, a, b):\n        return a + b\n", encoding="utf-8"
    )
    proc = run(
        "ask",
        "--config",
        str(config(tmp_path, ollama_emulator.url)),
        "--json",
        "--file",
        str(source),
        "--line",
        "6",
        "Explain this method",
    )
    assert proc.returncode == 0, proc.stderr
    # The tier that answered (the route is learned: `Calc.add` beside `import math` is a borderline
    # case) got the file context in its prompt.
    tier = json.loads(proc.stdout)["finalTier"]
    prompt = ollama_emulator.calls(path="/api/chat", model=TIER_MODELS[tier])[0].json["messages"][-1]["content"]
    assert "def add(self, a, b):" in prompt and "Calc" in prompt


def test_bad_config_is_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[routing]\nrouter = "sometimes"\n', encoding="utf-8")
    proc = run("ask", "--config", str(bad), "hello")
    assert proc.returncode == 2
    assert proc.stderr.count("error:") == 1 and "routing.router" in proc.stderr


def test_route_offline_json() -> None:
    proc = run("route", "--offline", "--json", BLACK_SCHOLES)
    decision = json.loads(proc.stdout)
    assert decision["domain"] == "math" and decision["decidedBy"] == "offline"


def test_route_offline_jsonl_routes_hundreds_of_prompts_like_the_classifier() -> None:
    # One line per prompt, in order, each the in-process classifier's decision (speed is measured
    # by bench/, never asserted here).
    distinct = [BLACK_SCHOLES, "Create a Flask hello-world endpoint.", "Explain this error", "fix the bug"]
    prompts = distinct * 100
    proc = run("route", "--offline", "--jsonl", stdin="\n".join(prompts) + "\n")
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(lines) == 400
    assert all(set(d) == {"domain", "intent", "confidence", "decidedBy"} for d in lines)
    expected = []
    for prompt in distinct:
        decision = classify(prompt)
        expected.append({"domain": decision.domain, "intent": decision.intent, "decidedBy": "offline"})
    assert [{k: d[k] for k in ("domain", "intent", "decidedBy")} for d in lines] == expected * 100
    assert [d["domain"] for d in lines[:2]] == ["math", "general"]


def test_doctor_reports_missing_models_and_fim(ollama_emulator: OllamaEmulator, tmp_path: Path) -> None:
    add_team(ollama_emulator, principal=None)
    proc = run("doctor", "--json", "--config", str(config(tmp_path, ollama_emulator.url, router="auto")))
    report = json.loads(proc.stdout)
    assert proc.returncode == 1 and not report["ok"]
    by_name = {c["name"]: c for c in report["checks"]}
    assert by_name[f"endpoint {ollama_emulator.url}"]["ok"]
    assert not by_name["tier principal model"]["ok"]
    assert by_name["tier principal model"]["fix"].startswith(f"ollama pull {TIER_MODELS['principal']}")
    fim = by_name["completion tier lead fill-in-the-middle"]
    assert not fim["ok"] and "insert" in fim["detail"]


def test_doctor_on_an_openai_compatible_server(ollama_emulator: OllamaEmulator, tmp_path: Path) -> None:
    """All tiers on an OpenAI-compatible server (as scripts/real-model-demo sets them up)."""
    add_team(ollama_emulator)
    v1 = ollama_emulator.url + "/v1"
    path = tmp_path / "openai.toml"
    path.write_text(
        "".join(
            f'[tiers.{tier}]\nmodel = "{model}"\nprovider = "openai"\nbase_url = "{v1}"\n'
            for tier, model in TIER_MODELS.items()
        ),
        encoding="utf-8",
    )
    report = json.loads(run("doctor", "--json", "--config", str(path)).stdout)
    by_name = {c["name"]: c for c in report["checks"]}
    assert by_name[f"endpoint {v1}"]["ok"] and by_name["tier lead model"]["ok"]
    fim = by_name["completion tier lead fill-in-the-middle"]
    assert "do not report FIM support" in fim["detail"] and "ollama pull" not in fim["fix"]
    assert report["missingModels"] == []


def test_doctor_dead_endpoint(tmp_path: Path) -> None:
    proc = run("doctor", "--config", str(config(tmp_path, closed_port_url())))
    assert proc.returncode == 3 and "ollama serve" in proc.stdout


def test_models_pull_fetches_missing_models(ollama_emulator: OllamaEmulator, tmp_path: Path) -> None:
    add_team(ollama_emulator, senior=None)
    ollama_emulator.add_pullable(ScriptedModel(name=TIER_MODELS["senior"]))
    proc = run("models", "pull", "--config", str(config(tmp_path, ollama_emulator.url)))
    assert proc.returncode == 0, proc.stderr
    assert ollama_emulator.calls(path="/api/pull")
    assert ollama_emulator.get_model(TIER_MODELS["senior"]) is not None
    again = run("doctor", "--json", "--config", str(config(tmp_path, ollama_emulator.url)))
    assert json.loads(again.stdout)["missingModels"] == []


def test_schemas_are_current() -> None:
    proc = run("schemas", "--check")
    assert proc.returncode == 0, proc.stderr


def sized_team(principal_gb: float = 4.0) -> list[ScriptedModel]:
    """The tier models with disk sizes (GB): lead 8, principal ``principal_gb``, the others 4;
    loaded, each takes 1.2 times that."""
    sizes = {tier: 4.0 for tier in TIER_MODELS} | {"lead": 8.0, "principal": principal_gb}
    fim = {"lead": ["completion", "insert"]}
    return [
        ScriptedModel(
            name=TIER_MODELS[t],
            size=int(gb * 1e9),
            memory_size=int(gb * 1.2e9),
            capabilities=fim.get(t, ["completion"]),
        )
        for t, gb in sizes.items()
    ]


RESIDENCY_20GB = "[residency]\nram_bytes = 20000000000\nvram_bytes = 0\n"


def test_doctor_prints_the_fit_table(tmp_path: Path) -> None:
    with OllamaEmulator(sized_team(), vram_bytes=0) as emu:
        ollama.Client(host=emu.url).generate(TIER_MODELS["lead"], "", keep_alive="1h")  # loaded before doctor
        cfg = str(config(tmp_path, emu.url, extra=RESIDENCY_20GB))
        proc = run("doctor", "--config", cfg)
        report = json.loads(run("doctor", "--json", "--config", cfg).stdout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert f"Model residency on {emu.url}: 20.0 GB for models (RAM 20.0 GB, VRAM 0.0 GB; residency.ram_bytes" in out
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ") and "-m:latest" in line}
    assert set(rows) == {"lead", "senior", "principal", "math"}  # the router is offline: not loaded
    assert rows["lead"].split()[1:4] == ["*", TIER_MODELS["lead"], "8.0"]
    assert "9.6 GB " in rows["lead"] and "yes, in " in rows["lead"] and rows["lead"].endswith("1h")
    assert "4.8 GB (est.)" in rows["math"] and " no " in rows["math"] and rows["math"].endswith("5m")
    assert "the team does not fit at once: 4 models need 24.0 GB of 20.0 GB; Ollama keeps at most 3 loaded" in out
    assert f"the completion model (lead: {TIER_MODELS['lead']}) stays loaded; math, principal, senior take turns" in out
    (table,) = report["fit"]
    assert (table["capacityBytes"], table["teamBytes"], table["fits"]) == (20_000_000_000, 24_000_000_000, False)
    lead = next(r for r in table["rows"] if r["tier"] == "lead")
    assert lead["loaded"] and lead["measured"] and lead["role"] == "completion" and lead["keepAlive"] == "1h"
    assert table["evictsCompletion"] == [] and len(table["swapped"]) == 3


def test_doctor_fails_when_a_tier_cannot_load_beside_the_completion_model(tmp_path: Path) -> None:
    with OllamaEmulator(sized_team(principal_gb=9.0), vram_bytes=0) as emu:
        proc = run("doctor", "--config", str(config(tmp_path, emu.url, extra=RESIDENCY_20GB)))
    assert proc.returncode == 1
    check = next(line for line in proc.stdout.splitlines() if line.startswith("[!!] model residency"))
    assert "principal cannot load beside the completion model: Ollama unloads it for them" in check
    assert "fix: use a smaller model" in proc.stdout


def test_route_jsonl_loads_only_what_routing_needs() -> None:
    """``route --offline --jsonl`` (issue 10: 400 prompts in under 1.5 s with the interpreter start)
    imports neither the memory (sqlite-vec, apsw) nor placement's modules: they cost about 0.35 s of
    start-up and the JSON lines carry no placement."""
    code = (
        "import sys; from coding_director.cli import main; code = main(['route', '--offline', '--jsonl']); "
        "print(sorted(m for m in sys.modules if m.startswith(('coding_director.memory', 'coding_director.routing.fr', "
        "'coding_director.routing.escalation', 'sqlite_vec', 'apsw')))); sys.exit(code)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CODING_DIRECTOR_", "OLLAMA_"))}
    proc = subprocess.run([sys.executable, "-c", code], input="add a regression test\n", capture_output=True,
                          text=True, timeout=120, env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert json.loads(lines[0])["domain"] == "general"
    assert lines[-1] == "[]"


def test_route_jsonl_classifies_a_line_that_is_not_utf8() -> None:
    """Bytes that are not UTF-8 reach Python as lone surrogates (``surrogateescape``); the router's
    byte-fallback tokenizer raised ``UnicodeEncodeError`` on them and the command died with a traceback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CODING_DIRECTOR_", "OLLAMA_"))}
    proc = subprocess.run([sys.executable, "-m", "coding_director", "route", "--offline", "--jsonl"],
                          input=b"why is SUM() null\n\xff\xfe caf\xe9 bytes\n", capture_output=True, timeout=120,
                          env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert [json.loads(line)["decidedBy"] for line in proc.stdout.decode().splitlines()] == ["offline", "offline"]
