"""check and vote: the form of an answer, and the answer most solutions agree on."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from smolcpu.artifact import Artifact
from smolcpu.errors import UsageError
from smolcpu.units.tools import CheckTool, VoteTool, number_in


@pytest.mark.parametrize(
    ("text", "number"),
    [("18", "18"), ("18.0\n", "18.0"), ("$1,200.50", "1200.50"), ("Answer: 7", "7"), ("9 eggs, so 18.\nAnswer: 18", "18")],
)
def test_the_number_an_answer_states(text: str, number: str) -> None:
    assert number_in(text) == Decimal(number)


@pytest.mark.parametrize("text", ["", "no number here", "3 and 4"])
def test_no_number_or_several_is_none(text: str) -> None:
    assert number_in(text) is None


def run(tool: object, artifact: Artifact) -> Artifact:
    return asyncio.run(tool.handle(None, None, artifact))  # type: ignore[attr-defined]


def test_check_passes_one_number_on_normalised() -> None:
    assert run(CheckTool(), Artifact.text("18.0\n")).as_text() == "18"
    assert run(CheckTool(decimals=2), Artifact.text("12.50")).as_text() == "12.5"
    assert run(CheckTool(decimals=2), Artifact.json({"stdout": "7\n", "stderr": "", "exit_status": 0})).as_text() == "7"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("12.333333333", "more than 2 decimal places"),
        ("The answer is unclear", "should be one number"),
        ("", "should be one number"),
    ],
)
def test_check_fails_with_what_is_wrong(text: str, why: str) -> None:
    reply = run(CheckTool(decimals=2), Artifact.text(text))
    assert reply.is_error and why in reply.error_message


def test_check_can_want_a_whole_number() -> None:
    assert run(CheckTool(decimals=0), Artifact.text("36.0")).as_text() == "36"
    reply = run(CheckTool(decimals=0), Artifact.text("14.6667"))
    assert reply.is_error and "14.6667 is not a whole number" in reply.error_message


def test_check_can_want_a_positive_number() -> None:
    assert run(CheckTool(positive=True), Artifact.text("3")).as_text() == "3"
    for text in ("0", "-4.5"):
        reply = run(CheckTool(positive=True), Artifact.text(text))
        assert reply.is_error and "not above zero" in reply.error_message


def test_check_of_an_error_says_there_is_no_answer() -> None:
    reply = run(CheckTool(), Artifact.error("the program exited with status 1"))
    assert reply.is_error and "no answer to check" in reply.error_message


def test_check_refuses_an_unknown_want() -> None:
    with pytest.raises(UsageError, match="check wants one of"):
        CheckTool(want="colour")


def test_vote_takes_the_majority_and_a_tie_goes_to_the_first() -> None:
    assert run(VoteTool(), Artifact.json(["Answer: 18", {"stdout": "18\n", "exit_status": 0}, "17"])).as_text() == "18"
    assert run(VoteTool(), Artifact.json(["Answer: 5", "6"])).as_text() == "5"
    assert run(VoteTool(), Artifact.json([{"error": "failed", "status": "error"}, "Answer: 4.0"])).as_text() == "4"


def test_vote_with_no_number_fails() -> None:
    reply = run(VoteTool(), Artifact.json(["no idea", {"error": "x"}]))
    assert reply.is_error and "none of the 2 answers" in reply.error_message


def test_vote_with_least_two_passes_answers_that_agree_and_fails_those_that_do_not() -> None:
    agreeing = Artifact.json([{"stdout": "18\n", "exit_status": 0}, "So she makes $18.00. Answer: 18"])
    assert run(VoteTool(least=2), agreeing).as_text() == "18"
    reply = run(VoteTool(least=2), Artifact.json([{"stdout": "18\n", "exit_status": 0}, "Answer: 20"]))
    assert reply.is_error and "do not agree (18, 20)" in reply.error_message


def test_vote_refuses_least_below_one() -> None:
    with pytest.raises(UsageError, match="least must be 1"):
        VoteTool(least=0)


def test_vote_counts_the_answers_of_a_join_of_joins_as_one_list() -> None:
    nested = Artifact.json([["Answer: 18", "20"], "Answer: 20", {"stdout": "18\n", "exit_status": 0}, "20"])
    assert run(VoteTool(), nested).as_text() == "20"


def doubtful(text: str, confidence: float) -> Artifact:
    return Artifact.text(text, attributes={"confidence": f"{confidence:.4f}"})


def test_check_with_sure_fails_an_answer_its_writer_doubted() -> None:
    assert run(CheckTool(sure=0.87), doubtful("18", 0.9)).as_text() == "18"
    reply = run(CheckTool(sure=0.87), doubtful("18", 0.8))
    assert reply.is_error and "confidence 0.80, below 0.87" in reply.error_message
    assert run(CheckTool(), doubtful("18", 0.1)).as_text() == "18"  # no sure: confidence is not asked about


def test_check_with_sure_passes_an_answer_no_model_wrote() -> None:
    assert run(CheckTool(sure=0.87), Artifact.text("18")).as_text() == "18"


def test_a_form_failure_is_said_before_a_doubt() -> None:
    reply = run(CheckTool(decimals=0, sure=0.87), doubtful("18.5", 0.5))
    assert reply.is_error and "not a whole number" in reply.error_message


def test_check_refuses_a_sure_outside_zero_to_one() -> None:
    with pytest.raises(UsageError, match="between 0 and 1"):
        CheckTool(sure=1.5)


def test_a_tool_output_keeps_the_confidence_of_its_input() -> None:
    from smolcpu.units.tools import MathTool

    result = run(MathTool(), doubtful("6 * 7", 0.75))
    assert result.as_text() == "42" and result.attr("confidence") == "0.7500"
