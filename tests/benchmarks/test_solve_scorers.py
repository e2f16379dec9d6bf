"""The solve benchmark's scorers and loaders, on data written here (no ../shared, no model)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from bench.solve import _bfcl, _gsm8k, _humaneval, _images
from bench.solve._suite import Item, MissingData, fenced_blocks, seeded_slice

# ---- GSM8K -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("16 - 3 - 4 = 9 eggs, 9 * 2 = 18\n#### 18", 18),
        ("She makes $1,200.50 a week.\n#### $1,200.50", 1200.5),
        ("So 3 + 4 = 7. The answer is 7.", 7),
        ("The final answer: -5 degrees, not 3", -5),
        ("First 2 then 5 and finally 12.", 12),
        ("#### 0.5", 0.5),
        ("no number at all", None),
    ],
)
def test_gsm8k_reads_the_marked_number_else_the_last(text: str, number: float | None) -> None:
    assert _gsm8k.number_in(text) == number


def test_gsm8k_loads_the_reference_after_the_marks(tmp_path: Path) -> None:
    data = tmp_path / "dev.jsonl"
    data.write_text(json.dumps({"question": "1 + 1?", "answer": "1 + 1 = <<1+1=2>>2\n#### 1,002"}) + "\n")
    (item,) = _gsm8k.load(data)
    assert item.reference == "1,002"
    assert "####" in item.messages[-1]["content"] and item.task.startswith("1 + 1?")
    assert _gsm8k.score(item, {"output": "so #### 1002"}).correct
    assert not _gsm8k.score(item, {"output": "#### 1003"}).correct
    assert not _gsm8k.score(item, {"output": ""}).correct


def test_a_missing_data_file_says_where_it_was_looked_for(tmp_path: Path) -> None:
    with pytest.raises(MissingData, match="shared/bench"):
        _gsm8k.load(tmp_path / "dev.jsonl")


# ---- HumanEval in the sandbox ------------------------------------------------------------

PROBLEM = {
    "task_id": "HumanEval/0",
    "prompt": 'from typing import List\n\n\ndef add_all(numbers: List[int]) -> int:\n    """Sum of the numbers.\n    >>> add_all([1, 2])\n    3\n    """\n',
    "entry_point": "add_all",
    "canonical_solution": "    return sum(numbers)\n",
    "test": "def check(candidate):\n    assert candidate([1, 2]) == 3\n    assert candidate([]) == 0\n",
}


@pytest.fixture
def problem(tmp_path: Path) -> Item:
    data = tmp_path / "HumanEval.jsonl.gz"
    with gzip.open(data, "wt") as file:
        file.write(json.dumps(PROBLEM) + "\n")
    (item,) = _humaneval.load(data)
    return item


def test_humaneval_passes_a_good_function_in_the_sandbox(problem: Item) -> None:
    answer = "Let me think.\n```python\ndef add_all(numbers: List[int]) -> int:\n    return sum(numbers)\n```\nDone."
    verdict = _humaneval.score(problem, {"output": answer})
    assert verdict.correct, verdict.detail


def test_humaneval_passes_a_body_that_continues_the_prompt(problem: Item) -> None:
    assert _humaneval.score(problem, {"output": "    return sum(numbers)\n"}).correct


def test_humaneval_fails_a_wrong_function_with_the_assertion(problem: Item) -> None:
    verdict = _humaneval.score(problem, {"output": "```python\ndef add_all(numbers):\n    return 3\n```"})
    assert not verdict.correct
    assert "AssertionError" in verdict.detail


def test_humaneval_fails_an_endless_loop_at_the_deadline(problem: Item, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_humaneval, "TIMEOUT_S", 1.0)
    verdict = _humaneval.score(problem, {"output": "def add_all(numbers):\n    while True:\n        pass\n"})
    assert not verdict.correct and verdict.detail == "timeout"


def test_humaneval_runs_the_answer_as_its_harness_does_not_as_main(problem: Item) -> None:
    """HumanEval's harness execs the program in a namespace of its own: an answer's own examples
    under ``if __name__ == "__main__":`` never run (a wrong one would fail a right function)."""
    answer = (
        "```python\ndef add_all(numbers):\n    return sum(numbers)\n\n"
        "if __name__ == \"__main__\":\n    assert add_all([1, 2]) == 4\n```"
    )
    assert _humaneval.score(problem, {"output": answer}).correct


def test_humaneval_picks_the_block_that_defines_the_function() -> None:
    text = "```\n$ python x.py\n```\n```python\nimport math\ndef f(x):\n    return x\n```"
    assert _humaneval.completion_code(text, "f").startswith("import math")


# ---- BFCL --------------------------------------------------------------------------------

FUNCTIONS = [
    {
        "name": "math.hypot",
        "description": "Euclidean norm.",
        "parameters": {
            "type": "dict",
            "properties": {
                "x": {"type": "integer", "description": "x"},
                "y": {"type": "float", "description": "y"},
                "unit": {"type": "string", "description": "unit"},
                "points": {"type": "array", "items": {"type": "integer"}, "description": "points"},
            },
            "required": ["x", "y"],
        },
    }
]
POSSIBLE = [{"math.hypot": {"x": [4], "y": [5.0], "unit": ["centimetres", ""], "points": [[1, 2], ""]}}]


@pytest.mark.parametrize(
    ("answer", "correct", "why"),
    [
        ("[math.hypot(x=4, y=5)]", True, "int passes for float"),
        ("[math.hypot(x=4, y=5.0, unit='Centi-metres')]", True, "string normalised"),
        ("math.hypot(x=4, y=5, points=[1, 2])", True, "a bare call, a list value"),
        ("Reasoning first.\n```python\n[math.hypot(x=2*2, y=-(-5))]\n```", True, "arithmetic, a fence"),
        ('{"name": "math.hypot", "arguments": {"x": 4, "y": 5}}', True, "a JSON tool call"),
        ("[math.hypot(x=4)]", False, "missing required"),
        ("[math.hypot(x=4, y=5, z=1)]", False, "unexpected parameter"),
        ("[math.hypot(x='4', y=5)]", False, "wrong type"),
        ("[math.hypot(x=3, y=5)]", False, "wrong value"),
        ("[math.hypot(x=4, y=5, unit='inches')]", False, "string not among the answers"),
        ("[math.hypot(x=4, y=5, points=[2, 1])]", False, "list in another order"),
        ("[hypot(x=4, y=5)]", False, "wrong name"),
        ("[math.hypot(4, 5)]", False, "positional arguments are not read, as in BFCL"),
        ("[math.hypot(x=4, y=5), math.hypot(x=4, y=5)]", False, "two calls"),
        ("I cannot help with that.", False, "no call"),
    ],
)
def test_bfcl_checks_as_bfcl_does(answer: str, correct: bool, why: str) -> None:
    item = Item(suite="bfcl", id="t", task="", messages=[], reference=POSSIBLE, functions=FUNCTIONS)
    assert _bfcl.score(item, {"output": answer}).correct is correct, why


def test_bfcl_scores_an_agents_recorded_calls_over_its_text() -> None:
    item = Item(suite="bfcl", id="t", task="", messages=[], reference=POSSIBLE, functions=FUNCTIONS)
    assert _bfcl.score(item, {"output": "done", "calls": [{"math.hypot": {"x": 4, "y": 5.0}}]}).correct
    assert not _bfcl.score(item, {"output": "[math.hypot(x=4, y=5)]", "calls": []}).correct


def test_bfcl_optional_parameter_without_empty_answer_is_required() -> None:
    possible = [{"math.hypot": {"x": [4], "y": [5.0], "unit": ["cm"]}}]
    assert not _bfcl.check(FUNCTIONS, [{"math.hypot": {"x": 4, "y": 5.0}}], possible).correct


def test_bfcl_dict_values_are_checked_key_by_key() -> None:
    functions = [
        {
            "name": "book",
            "parameters": {
                "type": "dict",
                "properties": {"room": {"type": "dict", "description": "room"}},
                "required": ["room"],
            },
        }
    ]
    possible = [{"book": {"room": [{"kind": ["double", "twin"], "nights": [2], "view": ["", "sea"]}]}}]
    assert _bfcl.check(functions, [{"book": {"room": {"kind": "Twin", "nights": 2}}}], possible).correct
    assert not _bfcl.check(functions, [{"book": {"room": {"kind": "single", "nights": 2}}}], possible).correct
    assert not _bfcl.check(functions, [{"book": {"room": {"kind": "twin"}}}], possible).correct


def test_bfcl_standardize_is_bfcls_normalisation() -> None:
    assert _bfcl.standardize("New York, NY") == _bfcl.standardize("new_york-ny.")
    assert _bfcl.standardize("it's") == 'it"s'


def test_bfcl_loads_questions_with_their_answers(tmp_path: Path) -> None:
    question = {"id": "simple_python_0", "question": [[{"role": "user", "content": "Hypot of 4 and 5."}]], "function": FUNCTIONS}
    (tmp_path / _bfcl.QUESTIONS).write_text(json.dumps(question) + "\n")
    (tmp_path / _bfcl.ANSWERS).write_text(json.dumps({"id": "simple_python_0", "ground_truth": POSSIBLE}) + "\n")
    (item,) = _bfcl.load(tmp_path)
    assert item.request == "Hypot of 4 and 5." and "math.hypot" in item.messages[0]["content"]
    assert _bfcl.score(item, {"output": "[math.hypot(x=4, y=5)]"}).correct


# ---- image questions ---------------------------------------------------------------------


def test_the_image_questions_are_many_and_each_was_verified() -> None:
    records = [json.loads(line) for line in _images.QUESTIONS.read_text().splitlines() if line.strip()]
    assert len(records) >= 40
    assert {record["kind"] for record in records} == set(_images.KINDS)
    assert len({record["id"] for record in records}) == len(records)
    for record in records:
        assert record["image"].endswith(".jpg") and record["question"].endswith("?")
        assert record["verified"].startswith("looked at the image: ")
        if record["kind"] == "count":
            assert record["answer"].isdigit()
        if record["kind"] == "presence":
            assert record["answer"] in ("yes", "no")


def test_image_questions_load_with_their_pictures(tmp_path: Path) -> None:
    questions = tmp_path / "q.jsonl"
    record = {"id": "img-0", "image": "a.jpg", "kind": "count", "question": "How many?", "answer": "2", "accept": []}
    questions.write_text(json.dumps(record) + "\n")
    with pytest.raises(MissingData, match="a.jpg"):
        _images.load(questions, tmp_path)
    (tmp_path / "a.jpg").write_bytes(b"not read by the loader")
    (item,) = _images.load(questions, tmp_path)
    assert item.images == [str(tmp_path / "a.jpg")] and "a.jpg" in item.messages[0]["content"]


@pytest.mark.parametrize(
    ("kind", "answer", "accept", "output", "correct"),
    [
        ("count", "3", [], "There are three teddy bears.", True),
        ("count", "3", [], "3", True),
        ("count", "3", [], "I see 2 bears", False),
        ("presence", "no", [], "No, there is no dog.", True),
        ("presence", "yes", [], "Yes.", True),
        ("presence", "yes", [], "I don't know", False),
        ("category", "zebra", [], "Zebras.", True),
        ("category", "teddy bear", ["teddy"], "a teddy-bear", True),
        ("largest", "refrigerator", ["fridge"], "The fridge", True),
        ("largest", "bed", [], "bedroom", False),
    ],
)
def test_image_answers_are_read_like_a_short_reply(kind: str, answer: str, accept: list[str], output: str, correct: bool) -> None:
    item = Item(suite="images", id="t", task="", messages=[], reference={"kind": kind, "answer": answer, "accept": accept})
    assert _images.score(item, {"output": output}).correct is correct


# ---- shared ------------------------------------------------------------------------------


def test_the_seeded_slice_is_the_same_for_the_same_seed() -> None:
    items = [Item(suite="s", id=str(index), task="", messages=[], reference=None) for index in range(50)]
    first = [item.id for item in seeded_slice(items, limit=5, seed=3)]
    assert first == [item.id for item in seeded_slice(items, limit=5, seed=3)]
    assert first != [item.id for item in seeded_slice(items, limit=5, seed=4)]
    assert len(seeded_slice(items, limit=0, seed=3)) == 50


def test_fenced_blocks_include_an_unclosed_last_one() -> None:
    assert fenced_blocks("a\n```python\nx = 1\n```\nb\n```\ny = 2") == ["x = 1", "y = 2"]


def test_bfcl_reads_the_tool_calls_of_a_chat_reply() -> None:
    reply = json.dumps({"content": "", "tool_calls": [{"name": "math.hypot", "arguments": {"x": 4, "y": 5}}]})
    assert _bfcl.decode_calls(reply) == [{"math.hypot": {"x": 4, "y": 5}}]


def test_bfcl_functions_become_openai_tools_with_json_schema_types() -> None:
    (tool,) = _bfcl.openai_tools(FUNCTIONS)
    assert tool["type"] == "function" and tool["function"]["name"] == "math.hypot"
    parameters = tool["function"]["parameters"]
    assert parameters["type"] == "object" and parameters["properties"]["y"]["type"] == "number"
    assert parameters["properties"]["points"]["items"]["type"] == "integer"
    assert FUNCTIONS[0]["parameters"]["type"] == "dict", "the suite's own documents are left as they are"


def test_a_missing_shared_folder_is_named_with_the_way_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.solve import __main__ as solve

    monkeypatch.setattr(solve, "SHARED_BENCH", tmp_path / "shared" / "bench")
    options = solve.options_from(["--suites", "gsm8k,images", "--systems", "bare"])
    with pytest.raises(SystemExit, match=r"\.\./shared is missing: .* gsm8k, images .* --suites humaneval"):
        solve.load_items(options, None)


def test_unknown_suites_and_systems_are_refused() -> None:
    from bench.solve import __main__ as solve

    with pytest.raises(SystemExit, match="unknown suite mmlu"):
        solve.options_from(["--suites", "gsm8k,mmlu"])
    with pytest.raises(SystemExit, match="unknown system gpt"):
        solve.options_from(["--systems", "gpt"])


def test_each_program_given_is_one_more_smol_system_named_by_its_file_and_content(tmp_path: Path) -> None:
    from bench.solve import __main__ as solve

    mine = tmp_path / "mine.smol"
    mine.write_text("out <= chat <= in\n")
    options = solve.options_from(["--systems", "smol", "--program", str(mine)])
    name = next(system for system in options.systems if system.startswith("smol:mine-"))
    assert options.systems == ["smol", name] and options.programs[name] == mine
    mine.write_text("out <= reason <= in\n")
    assert solve.options_from(["--systems", "smol", "--program", str(mine)]).systems[1] != name
    with pytest.raises(SystemExit, match="--program nope.smol: no such file"):
        solve.options_from(["--program", "nope.smol"])


def test_percentiles_interpolate_between_the_nearest() -> None:
    from bench.solve import __main__ as solve

    assert solve.percentile([1.0], 0.9) == 1.0
    assert solve.percentile([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0], 0.9) == pytest.approx(10.0)


def test_fresh_forgets_only_the_results_with_the_same_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.solve import __main__ as solve

    monkeypatch.setattr(solve, "ITEMS", tmp_path / "items.jsonl")
    mine, other = {"model": "a"}, {"model": "b"}
    rows = [{"key": key, "system": "bare", "suite": "gsm8k", "id": "1"} for key in (mine, other)]
    solve.ITEMS.write_text("".join(json.dumps(row) + "\n" for row in rows) + '{"key": {"model": "a"}, "cut')
    assert list(solve.earlier_results(mine)) == [("bare", "gsm8k", "1")]
    solve.forget(mine)
    assert solve.earlier_results(mine) == {} and list(solve.earlier_results(other)) == [("bare", "gsm8k", "1")]


def test_smols_results_stand_only_for_the_default_program_they_were_made_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bench.solve import __main__ as solve

    monkeypatch.setattr(solve, "ITEMS", tmp_path / "items.jsonl")
    key = {"model": "a"}
    rows = [
        {"key": key, "system": "smol", "suite": "gsm8k", "id": "1", "program": solve.default_program()},
        {"key": key, "system": "smol", "suite": "gsm8k", "id": "2", "program": "0ld0ne"},
        {"key": key, "system": "smol", "suite": "gsm8k", "id": "3"},
        {"key": key, "system": "bare", "suite": "gsm8k", "id": "2"},
    ]
    solve.ITEMS.write_text("".join(json.dumps(row) + "\n" for row in rows))
    assert sorted(solve.earlier_results(key)) == [("bare", "gsm8k", "2"), ("smol", "gsm8k", "1")]
