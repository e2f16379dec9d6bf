"""Distilled choosers: fitted to the LLM's decisions, calibrated, hot-swapped, audited, rolled back."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence

import numpy as np
import pytest

from smolcpu.artifact import RunIndex, open_store
from smolcpu.dream import Decided, calibrate, distil, dream, mine, revert, wilson_lower
from smolcpu.errors import UsageError
from smolcpu.testing import vectors_of
from smolcpu.vm import pointer_path, read_pointer
from smolcpu.vm._distilled import POLL_S
from tests.dream.helpers import CALC, ask_all


def embed(texts: list[str]) -> np.ndarray:
    return np.asarray(vectors_of(texts), dtype=np.float32)


def decided(text: str, option: str, by: str = "llm") -> Decided:
    return Decided("run", "default.smol", "match", "route", ("sum", "greet", "default"), text, option, by, 0.4, True)


def synthetic(n: int, *, noise: float = 0.0, seed: int = 0) -> list[Decided]:
    rng = random.Random(seed)
    found = []
    for i in range(n):
        greet = i % 2 == 0
        text = f"hello there friend number {i}" if greet else f"add {i} and {i + 1} together"
        option = "greet" if greet else "sum"
        if rng.random() < noise:
            option = "sum" if greet else "greet"
        found.append(decided(text, option))
    return found


def test_the_wilson_bound_is_below_the_rate_and_tightens_with_more_evidence() -> None:
    assert wilson_lower(10, 10) < 1.0 and wilson_lower(190, 190) >= 0.98 > wilson_lower(100, 100)
    assert wilson_lower(0, 0) == 0.0


def test_calibration_takes_the_confident_decisions_that_keep_the_target() -> None:
    confidence = [0.99] * 50 + [0.6] * 50
    correct = [True] * 50 + [False] * 25 + [True] * 25
    threshold, taken, agreed = calibrate(confidence, correct, 0.9)
    assert threshold == 0.99 and taken == agreed == 50
    assert calibrate([0.9, 0.8], [False, False], 0.5) is None


def test_a_separable_decision_point_is_distilled_with_full_coverage() -> None:
    result = distil("default.smol#route", synthetic(240), embed)
    assert result.model is not None and result.coverage == 1.0 and result.lower >= 0.98
    assert result.model.predict(embed(["hello there friend number 7"])[0], ("sum", "greet"))[0] == "greet"
    assert result.model.predict(embed(["add 3 and 4 together"])[0], ("default",)) is None  # knows no such option


def test_a_point_with_few_decisions_or_a_noisy_teacher_is_not_distilled() -> None:
    assert distil("p", synthetic(10), embed).model is None
    noisy = distil("p", synthetic(200, noise=0.3), embed)
    assert noisy.model is None and "never keeps" in noisy.reason
    assert distil("p", [decided("x", "sum", by="classifier")] * 50, embed).model is None


def teacher(prompt: str, options: Sequence[str]) -> str:
    return CALC if "what is" in prompt.lower() else "default"


QUESTIONS = [f"What is {i} + {i * 3}?" if i % 2 else f"Hello, tell me about color {i}" for i in range(1, 61)]


def test_dreaming_puts_a_distilled_chooser_in_service_and_a_running_session_picks_it_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SMOL_DREAM_AUDIT", "0")
    ask_all(QUESTIONS, choose=teacher)
    report = dream(embed=embed, target=0.9)
    (point,) = report.points
    assert point["point"] == "default.smol#route" and point["coverage"] > 0.7 and point["lower"] >= 0.9
    assert [c["change"] for c in report.changes] == ["adopted"]
    assert read_pointer()["points"]["default.smol#route"]["version"] == report.changes[0]["version"]
    asked: list[str] = []

    def counting(prompt: str, options: Sequence[str]) -> str:
        asked.append(prompt)
        return teacher(prompt, options)

    answers = ask_all(["What is 5 + 6?", "Hello, tell me about color 99"], choose=counting)
    assert answers[0].text == "4" and answers[1].text == "Hello."
    with RunIndex() as index, open_store(index=index) as store:
        latest = [d for d in mine(index, store).decisions if d.run in {a.run_id for a in answers}]
    assert {d.by for d in latest} <= {"distilled", "llm"} and any(d.by == "distilled" for d in latest)
    assert len(asked) < 2


def test_audits_that_disagree_roll_the_version_back_and_revert_steps_back_by_hand(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ask_all(QUESTIONS, choose=teacher)
    first = dream(embed=embed, target=0.9).changes[0]["version"]

    def contrary(prompt: str, options: Sequence[str]) -> str:  # the LLM now routes the other way
        return "default" if teacher(prompt, options) == CALC else CALC

    monkeypatch.setenv("SMOL_DREAM_AUDIT", "1")  # every decision the model takes is audited
    ask_all(QUESTIONS[:24], choose=contrary)
    report = dream(embed=embed, target=0.9)
    rolled = [c for c in report.changes if c["change"] == "rolled back"]
    assert rolled and rolled[0]["from"] == first and rolled[0]["to"] is None
    assert report.audits[first][1] >= 20
    assert read_pointer()["points"]["default.smol#route"]["version"] is None


def test_revert_puts_the_previous_version_back_in_service() -> None:
    ask_all(QUESTIONS, choose=teacher)
    first = dream(embed=embed, target=0.9).changes[0]["version"]
    ask_all(QUESTIONS[:10], choose=teacher)
    second = dream(embed=embed, target=0.9).changes[0]["version"]
    assert second != first and read_pointer()["points"]["default.smol#route"]["history"][-1]["version"] == first
    with RunIndex() as index, open_store(index=index) as store:
        with pytest.raises(UsageError, match="no distilled chooser"):
            revert(store, "nope#route")
        (back,) = revert(store, "default.smol#route")
        assert store.get(back["artifact"]).role == "dream-change"
    assert back["from"] == second and back["to"] == first
    assert read_pointer()["points"]["default.smol#route"]["version"] == first


def test_the_pointer_file_is_written_whole() -> None:
    ask_all(QUESTIONS, choose=teacher)
    dream(embed=embed, target=0.9)
    data = json.loads(pointer_path().read_text())
    assert set(data["points"]["default.smol#route"]) >= {"version", "coverage", "agreement", "history"}


def test_a_session_that_stays_open_picks_up_a_new_version_without_restarting(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from smolcpu.programs import Session
    from smolcpu.testing import ScriptedLLM, WordEmbedder
    from tests.dream.helpers import solver

    monkeypatch.setenv("SMOL_DREAM_AUDIT", "0")  # no audit may send the decision to the LLM
    ask_all(QUESTIONS, choose=teacher)
    asked: list[str] = []

    def counting(prompt: str, options: Sequence[str]) -> str:
        asked.append(prompt)
        return teacher(prompt, options)

    async def go() -> None:
        units = {"llm": ScriptedLLM(solver, choose=counting), "embed": WordEmbedder()}
        async with Session(units=units, classifier=False) as session:
            await session.ask("What is 7 + 8?")
            assert len(asked) == 1  # nothing distilled yet: the LLM routes
            await asyncio.to_thread(dream, embed=embed, target=0.9)
            await asyncio.sleep(POLL_S)
            await session.ask("What is 9 + 10?")
        assert len(asked) == 1  # the distilled chooser routed it

    asyncio.run(go())
