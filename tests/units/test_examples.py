"""The examples tool: a request's docstring examples, as checks run after the model's code."""

from __future__ import annotations

import asyncio
import json

import pytest

from smolcpu.artifact import Artifact
from smolcpu.units import request_artifact
from smolcpu.units.tools import SandboxTool
from smolcpu.units.tools._examples import NO_EXAMPLES, ExamplesTool, checks_program, example_checks


def stub(docstring: str, signature: str = "def f(xs, k=1):") -> str:
    return f"Complete this function:\n```python\n{signature}\n    \"\"\"{docstring}\n    \"\"\"\n```"


@pytest.mark.parametrize(
    ("docstring", "examples"),
    [
        (">>> f([1, 2])\n    3\n    >>> f([], k=2)\n    0", [("f([1, 2])", "3"), ("f([], k=2)", "0")]),
        (">>> round(f([1.5]), 2)  # a comment\n    1.5", [("round(f([1.5]), 2)", "1.5")]),
        ("f([1, 2]) ➞ 3\n    f([4]) ==> 4\n    f([5]) => 5", [("f([1, 2])", "3"), ("f([4])", "4"), ("f([5])", "5")]),
        ("Example: f([1]) == 1.\n    f([2]) should return 2", [("f([1])", "1"), ("f([2])", "2")]),
        ("f([1]) returns [1, 5] # the odd ones", [("f([1])", "[1, 5]")]),
        ("For xs = [1, 2, 3] the output should be 6", [("f([1, 2, 3])", "6")]),
        (">>> f([1])\n    1\n    f([1]) ➞ 1", [("f([1])", "1")]),
    ],
)
def test_examples_in_a_docstring_become_calls_and_expected_values(docstring: str, examples: list[tuple[str, str]]) -> None:
    signature = "def f(xs):" if docstring.startswith("For") else "def f(xs, k=1):"
    assert example_checks(stub(docstring, signature)) == examples


@pytest.mark.parametrize(
    "docstring",
    [
        "f(1) = 3 defines the sequence",  # a definition, not an example
        "f(a) ➞ True",  # a variable, not a value
        "f([1]) ➞ a list of ones",  # no literal to expect
        'f([1]) ==> ("one")',  # a string in parentheses: a tuple of one was meant, or not
        ">>> print(f([1]))\n    [1]\n    >>> xs = [1]\n    >>> g(xs)\n    2",  # prints, assigns, calls another function
    ],
)
def test_what_is_not_an_example_is_left_out(docstring: str) -> None:
    assert example_checks(stub(docstring)) == []


def test_a_request_without_a_function_to_write_has_no_examples() -> None:
    assert checks_program("Write a function that reverses a list.") == NO_EXAMPLES
    assert checks_program(stub("Sum them.")) == NO_EXAMPLES


def run(code: str, checks: str) -> Artifact:
    return asyncio.run(SandboxTool().handle(None, None, Artifact.json([code, checks])))


def test_the_checks_pass_a_right_function_and_tell_a_wrong_one_what_it_returned() -> None:
    request = request_artifact(stub(">>> f([1, 2])\n    3\n    >>> f([0.1, 0.2])\n    0.3"))
    checks = asyncio.run(ExamplesTool().handle(None, None, request)).as_text()
    right = run("```python\ndef f(xs, k=1):\n    return sum(xs)\n```", checks)
    assert not right.is_error, right.error_message
    wrong = run("```python\ndef f(xs, k=1):\n    return max(xs)\n```", checks)
    assert wrong.is_error
    assert "f([1, 2]) returned 2, but the request's example says 3" in wrong.error_message
    assert json.loads(wrong.payload)["result"]["exit_status"] == 1
