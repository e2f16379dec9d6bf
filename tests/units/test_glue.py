"""The conversions between units: what an LLM writes, as the next unit takes it."""

from __future__ import annotations

import asyncio
import json

import pytest

from smolcpu.artifact import Artifact
from smolcpu.units import (
    CODE_REQUEST,
    IMAGE_REQUEST,
    REQUEST,
    TOOLS_REQUEST,
    code_from,
    expression_from,
    images_from,
    question_of,
    request_artifact,
    text_for_model,
)
from smolcpu.units._glue import has_stub
from smolcpu.units.tools import SandboxTool


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        ("```python\nprint(1)\n```", "print(1)\n"),
        ("Sure! Here it is:\n```py\nx = 2\nprint(x)\n```\nThis prints 2.", "x = 2\nprint(x)\n"),
        ("```\nprint(3)\n```", "print(3)\n"),
        ("```python\na = 1\n```\nand then\n```python\nprint(a)\n```", "a = 1\n\nprint(a)\n"),
        ("The program:\nimport math\nprint(math.pi)", "import math\nprint(math.pi)\n"),
        ("print('plain')", "print('plain')\n"),
        ("```python\nprint('unclosed')", "print('unclosed')\n"),
    ],
)
def test_code_is_taken_out_of_fences_and_prose(reply: str, code: str) -> None:
    assert code_from(reply) == code


def test_a_fence_of_another_language_is_not_python() -> None:
    assert code_from("```json\n{}\n```") == "```json\n{}\n```"


@pytest.mark.parametrize(
    ("reply", "expression"),
    [
        ("17 * 23", "17 * 23"),
        ("`17 * 23 + 0.1`", "17 * 23 + 0.1"),
        ("Answer: $1,200 * 3.", "1200 * 3"),
        ("```\n(3 + 4) * 2\n```", "(3 + 4) * 2"),
        ("The expression is:\n\n2 ** 10 =", "2 ** 10"),
        ("$price * 1.2", "$price * 1.2"),
    ],
)
def test_an_expression_is_taken_out_of_a_reply(reply: str, expression: str) -> None:
    assert expression_from(reply) == expression


def test_a_request_carries_its_images_tools_and_history_and_says_so_by_its_type() -> None:
    request = request_artifact("What is it?", images=[("a.jpg", "image/jpeg", b"\xff\xd8")])
    assert request.type == IMAGE_REQUEST
    assert images_from(request) == [b"\xff\xd8"]
    assert question_of(request) == "What is it?"
    assert "[attached image: a.jpg]" in text_for_model(request)
    tools = request_artifact("call it", tools=[{"type": "function", "function": {"name": "f"}}])
    assert tools.type == TOOLS_REQUEST
    chat = request_artifact("and now?", history=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}])
    assert chat.type == REQUEST
    assert "User: hi" in text_for_model(chat) and "You: hello" in text_for_model(chat)


def test_detections_are_shown_to_a_model_counted_by_label() -> None:
    objects = [
        {"label": "dog", "score": 0.9, "box": [0, 0, 10, 10]},
        {"label": "dog", "score": 0.8, "box": [0, 0, 100, 100]},
        {"label": "cat", "score": 0.7, "box": [0, 0, 20, 20]},
    ]
    shown = text_for_model(Artifact.json(objects))
    assert "2 dog, 1 cat (3 in all)" in shown and "Largest single object: dog" in shown
    assert text_for_model(Artifact.json([])) == "[]"


def test_a_failed_snippet_is_shown_with_its_traceback() -> None:
    result = asyncio.run(SandboxTool().handle(None, None, Artifact.text("```python\n1/0\n```")))
    assert result.is_error
    shown = text_for_model(result)
    assert "exited with status 1" in shown and "ZeroDivisionError" in shown
    assert json.loads(result.payload)["result"]["exit_status"] == 1


def test_the_sandbox_runs_the_code_in_a_fenced_reply() -> None:
    result = asyncio.run(SandboxTool().handle(None, None, Artifact.text("Here:\n```python\nprint(6 * 7)\n```")))
    assert not result.is_error and json.loads(result.payload)["stdout"] == "42\n"


def test_the_sandbox_runs_a_joins_pieces_in_order() -> None:
    pieces = ["Here:\n```python\ndef half(n):\n    return n / 2\n```", "print(half(84))", {"error": "ignored"}]
    result = asyncio.run(SandboxTool().handle(None, None, Artifact.json(pieces)))
    assert not result.is_error and json.loads(result.payload)["stdout"] == "42.0\n"


def test_a_vision_join_that_found_nothing_says_so() -> None:
    classes = [{"label": "valley", "index": 979, "score": 0.5}]
    assert text_for_model(Artifact.json([[], classes])).startswith("Objects detected: none.")


def test_hostile_json_reaches_a_model_as_text_not_as_an_exception() -> None:
    nested = ("[" * 100_000 + "]" * 100_000).encode()
    deep = Artifact.json(1).replace(payload=nested)
    assert text_for_model(deep).startswith("[[[")
    broken_error = Artifact.error("boom").replace(payload=b"{not json")
    assert text_for_model(broken_error) == "Error: {not json"


@pytest.mark.parametrize(
    ("question", "stub"),
    [
        ('def add(a, b):\n    """The sum of a and b."""\n', True),
        ('Complete this function:\n\nimport math\n\ndef area(r):\n    import math\n    """Area of a circle."""\n', True),
        ("def later():\n    ...\n", True),
        ('Complete the function.\n```python\ndef add(a, b):\n    """The sum."""\n```', True),
        ("What does this do?\n\ndef double(x):\n    return x * 2\n", False),
        ("Janet has 3 apples and says def is a word. How many apples?", False),
        ("def broken(:\n", False),
        ("def deep():\n    x = " + "-" * 200_000 + "1\n", False),
        ("def wide():\n    return " + "+".join(["a"] * 50_000) + "\n", False),
    ],
)
def test_a_function_left_to_write_makes_a_code_request(question: str, stub: bool) -> None:
    assert has_stub(question) is stub
    assert (request_artifact(question).type == CODE_REQUEST) is stub
