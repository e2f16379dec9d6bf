"""Every corpus program with a ``; run:`` header runs on scripted workers as its header says.

Header lines (beside the checker's ``; expect:``, see ``tests/lang/corpus/README.md``):

| line | meaning |
|---|---|
| ``; run: TEXT`` | run the program on input TEXT (every worker scripted, echoing) |
| ``; run-worker: NAME: R, R, ...`` | NAME's replies in order: an outcome to name, ``-`` (none), ``!`` (an error artifact), ``!raise``, ``~`` (overrun the deadline), ``KEY=VALUE`` (an attribute, e.g. ``status=partial``) |
| ``; run-choose: A, B, ...`` | the chooser's answers, in order |
| ``; run-budget: N`` | the step budget |
| ``; run-path: A:o → B:o ...`` | the exact path (``!``: a failed step's fallback) |
| ``; run-status: S`` | ok, cancelled, timeout, error or budget |
| ``; run-output: TEXT`` | the output text |
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from smolcpu.lang import compile_file
from smolcpu.testing import Reply, ScriptedChooser
from tests.vm.flows import run_graph, workers_for

CORPUS = Path(__file__).resolve().parents[1] / "lang" / "corpus"
_HEADER = re.compile(r"^;[ \t]*(run(?:-[a-z]+)?):[ \t]?(.*?)[ \t]*$", re.M)
OVERRUN_S = 0.05


def headers(path: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for key, value in _HEADER.findall(path.read_text()):
        found.setdefault(key, []).append(value)
    return found


CASES = [p for p in sorted(CORPUS.glob("*.smol")) if "run" in headers(p)]


def reply(token: str) -> Reply:
    if token == "-":
        return Reply()
    if token == "!":
        return Reply(error="scripted failure")
    if token == "!raise":
        return Reply(fail="scripted crash")
    if token == "~":
        return Reply(delay=OVERRUN_S * 40)
    if "=" in token:
        key, _, value = token.partition("=")
        return Reply(attributes=((key, value),))
    return Reply(outcome=token)


def test_the_corpus_has_run_cases() -> None:
    assert len(CASES) >= 20


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_run(path: Path) -> None:
    wanted = headers(path)
    graph = compile_file(path).runnable()
    scripts = {}
    for line in wanted.get("run-worker", []):
        name, _, replies = line.partition(":")
        scripts[name.strip()] = [reply(token.strip()) for token in replies.split(",")]
    choose = [a.strip() for line in wanted.get("run-choose", []) for a in line.split(",") if a.strip()]
    budget = int(wanted["run-budget"][0]) if "run-budget" in wanted else None
    result = run_graph(
        graph,
        wanted["run"][0],
        workers=workers_for(graph, scripts),
        chooser=ScriptedChooser(choose),
        budget=budget,
        step_timeout=OVERRUN_S * 10,
        step_timeouts={name: OVERRUN_S for name, script in scripts.items() if any(r.delay for r in script)},
    )
    for path_text in wanted.get("run-path", []):
        assert result.path_text() == path_text.replace("->", "→")
    assert result.status.value == wanted.get("run-status", ["ok"])[0], result.reason
    for output in wanted.get("run-output", []):
        assert result.output.as_text() == output
