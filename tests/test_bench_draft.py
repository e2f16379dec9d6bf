"""The draft benchmark's checks: a program written by hand for a case passes it, a wrong one does not."""

from __future__ import annotations

import asyncio

import pytest

from bench.draft.__main__ import load_cases
from bench.draft._checks import failed_checks, failed_run
from smolcpu.lang import compile_source

CASES = {case["id"]: case for case in load_cases()}

REFERENCES = {
    "code_repair": """use write = llm "Write a Python program that prints the answer."
use run = sandbox

out <= switch <= (
    write<3> => next
    run      => send | back
) <= in
""",
    "spam_filter": """use answer = llm "Answer politely."

out <= answer <= match <= (
    spam    => cancel
    default => send
) <= in
""",
    "word_problem": """use translate = llm "Write the arithmetic expression."
use calc = math

out <= switch <= (
    translate => next
    calc      => send | back
) <= in
""",
    "translate_check": """use translate = llm "Translate to French."
use review = llm "Say back if the translation is wrong."

out <= switch <= (
    translate => next
    review    => next | back
) <= in
""",
    "haiku_critic": """use poet = llm "Write a haiku about the sea."
use critic = llm "Say continue if the haiku is good."

out <= switch[loop]<3> <= (
    poet   => next
    critic => continue | [loop.jump]
) <= in
""",
    "summary_keywords": """use summarize = llm "Summarize."
use keywords = llm "List keywords."

out <= join <= (
    out <= summarize
    out <= keywords
) <= in
""",
    "ask_route": """use answer = llm "Answer the question."

out <= answer <= match <= (
    complaint => cancel
    question  => send
    default   => send
) <= in
""",
    "embed_store": "use vec = embed\nuse keep = vectors\n\nout <= keep <= vec <= in\n",
}


def verdict(case_id: str, source: str) -> list[str]:
    case = CASES[case_id]
    compilation = compile_source(source)
    assert compilation.ok, compilation.render()
    failures = failed_checks(compilation, case.get("check", {}))
    if "run" in case:
        failures += asyncio.run(failed_run(compilation, case["run"]))
    return failures


def test_there_are_twenty_cases_each_with_a_check() -> None:
    assert len(CASES) == 20
    assert all(case["description"] and case["check"] for case in CASES.values())


@pytest.mark.parametrize("case_id", sorted(REFERENCES))
def test_a_right_program_passes(case_id: str) -> None:
    assert verdict(case_id, REFERENCES[case_id]) == []


def test_a_program_that_does_not_go_back_fails_the_check_and_the_run() -> None:
    no_repair = REFERENCES["code_repair"].replace("send | back", "send | cancel")
    failures = verdict("code_repair", no_repair)
    assert "no sandbox step goes back" in failures
    assert any(f.startswith("ended cancelled") for f in failures)


def test_a_program_without_the_asked_unit_fails() -> None:
    assert verdict("math_eval", "use calc = llm\n\nout <= calc <= in\n") == ["no math step", "ran ['llm'], not ['math'] in order"]
