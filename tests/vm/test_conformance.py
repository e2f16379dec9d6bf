"""Issue 12: the review's six findings and the decisions written into LANGUAGE.md §2–§4,
one test each, run as a user runs programs (optimised, on scripted workers)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from smolcpu import config
from smolcpu.errors import FlowSyntaxError
from smolcpu.lang import compile_source, format_program, parse
from smolcpu.testing import FirstChooser, Reply, ScriptedChooser
from smolcpu.vm import Status
from tests.vm.flows import graph_of, run_flow, run_graph, workers_for


def paths(result) -> list[str]:  # noqa: ANN001
    return [str(v) for v in result.path]


# ---- finding 1: a loop that runs no step ends ----------------------------------------------


def test_smol_run_ends_a_loop_that_runs_no_step(tmp_path: Path) -> None:
    program = tmp_path / "spin.smol"
    program.write_text("out <= match[m] <= ( default => [m.jump] ) <= in\n")
    done = subprocess.run(
        [sys.executable, "-m", "smolcpu", "run", str(program), "--input", "x", "--budget", "10"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "budget" in (done.stdout + done.stderr).lower()
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("source", "chooser"),
    [
        ("out <= match[m] <= ( default => [m.jump] ) <= in", None),
        ("out <= match <= ( default => [loop.jump] ) <= switch[loop] <= ( calc<1> => next ) <= in", None),
        ("use same = identity\nout <= select <= ( same => next ) <= in", FirstChooser()),
    ],
    ids=["match-jumps-to-itself", "consumed-switch", "identity-select"],
)
def test_every_action_counts_so_a_loop_without_steps_ends_budget(source: str, chooser) -> None:  # noqa: ANN001
    result, _ = run_flow(source, chooser=chooser, budget=10)
    assert result.status is Status.BUDGET, result.reason
    assert result.steps == 10


def test_the_budget_counts_steps_skips_cases_choices_jumps_and_refused_entries() -> None:
    source = "out <= match <= ( default => send ) <= switch[loop]<2> <= (\n a<1> => next\n b => [loop.jump]\n) <= in"
    result, workers = run_flow(source, budget=100)
    assert paths(result) == [
        "loop.a:next", "loop.b:[loop.jump]", "loop.a:skip", "loop.b:[loop.jump]", "loop:skip", "match1.default:send",
    ]
    assert result.steps == 8, "a, b, a jump, a skip, b, a jump, a refused entry, a case"
    assert len(workers["a"].calls) == 1
    chosen, _ = run_flow("out <= select <= ( a => next | send ) <= in", scripts={"a": [Reply(), Reply(outcome="send")]}, chooser=FirstChooser())
    assert chosen.steps == 4, "two choices, two steps"


# ---- finding 2: the optimiser keeps every step that runs -----------------------------------

KEPT = {
    "skipped-consumed-step": ("out <= switch[loop] <= (\n a<1> => [loop.jump]\n b => send\n) <= in", "loop.b", "in>a>b"),
    "refused-block-entry": ("out <= z <= switch[loop]<2> <= (\n a => [loop.jump]\n) <= in", "main.z", "in>a>a>z"),
}


@pytest.mark.parametrize("case", KEPT, ids=list(KEPT))
def test_the_optimiser_keeps_steps_reached_by_a_skip_or_a_refused_entry(case: str) -> None:
    source, step, output = KEPT[case]
    compilation = compile_source(source)
    assert compilation.ok, compilation.render()
    optimised = compilation.runnable()
    assert step in optimised.nodes
    for graph in (compilation.graph, optimised):
        result = run_graph(graph, workers=workers_for(graph))
        assert result.ok and result.output.as_text() == output


# ---- finding 3: see tests/vm/test_executor.py (test_checks_with_side_effects_run_one_after_another)


# ---- finding 4: no traceback from the parser's hints ----------------------------------------


def test_a_stray_limit_bracket_is_a_syntax_error_not_a_traceback(tmp_path: Path) -> None:
    source = "out <= match <= ( a => send < ) <= in\n"
    with pytest.raises(FlowSyntaxError, match=r"<flow>:1:29: syntax error"):
        parse(source)
    path = tmp_path / "stray.smol"
    path.write_text(source)
    for command in ("check", "fmt"):
        done = subprocess.run([sys.executable, "-m", "smolcpu", command, str(path)], capture_output=True, text=True)
        assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
        assert "1:29: syntax error" in done.stderr


# ---- finding 5 and §2: outcomes are named exactly as written; timeout is no alternative ----


def test_a_named_outcome_must_be_written_as_listed() -> None:
    source = "out <= switch <= (\n a => next\n b => back * 2 | send | cancel\n) <= in"
    result, _ = run_flow(source, scripts={"b": [Reply(outcome="back")]})
    assert paths(result) == ["switch1.a:next", "switch1.b:send!"], "`back` is not `back * 2`: a failure, the alternative"


def test_a_worker_cannot_name_timeout() -> None:
    source = "out <= switch <= (\n a => send | cancel | timeout\n) <= in"
    result, _ = run_flow(source, scripts={"a": [Reply(outcome="timeout")]})
    assert result.status is Status.CANCELLED and paths(result) == ["switch1.a:cancel!"]


def test_the_first_and_the_next_alternative_skip_timeout() -> None:
    source = "out <= switch <= (\n a => timeout | next | cancel\n b => send\n) <= in"
    first, _ = run_flow(source)
    assert paths(first) == ["switch1.a:next", "switch1.b:send"]
    failed, _ = run_flow(source, scripts={"a": [Reply(error="no")]})
    assert paths(failed) == ["switch1.a:cancel!"]


def test_a_failure_with_no_alternative_ends_the_run_error() -> None:
    result, _ = run_flow("out <= switch <= (\n a => timeout | send\n) <= in", scripts={"a": [Reply(fail="boom")]})
    assert result.status is Status.ERROR and paths(result) == ["switch1.a:failed!"]


# ---- finding 6: any nesting depth works or gets a positioned diagnostic --------------------


def _nested(depth: int) -> str:
    body = "a => next"
    for _ in range(depth):
        body = f"out <= switch <= (\n{body}\n)"
    return body + " <= in\n"


def test_the_deepest_nesting_allowed_works_end_to_end() -> None:
    for source in (_nested(config.MAX_NESTING), "out <= " + "(" * config.MAX_NESTING + "a" + ")" * config.MAX_NESTING + " <= in\n"):
        compilation = compile_source(source)
        assert compilation.ok
        assert parse(format_program(compilation.program)) == compilation.program
        graph = compilation.runnable()
        graph.dump(), graph.to_dot(), graph.to_json(), graph.to_mermaid()
        result = run_graph(graph, workers=workers_for(graph))
        assert result.ok and result.output.as_text() == "in>a"


@pytest.mark.parametrize("depth", [config.MAX_NESTING + 1, 2_000])
def test_deeper_nesting_gets_a_positioned_diagnostic(depth: int) -> None:
    with pytest.raises(FlowSyntaxError) as caught:
        compile_source(_nested(depth), path="deep.smol")
    message = str(caught.value)
    assert message.startswith(f"deep.smol:{config.MAX_NESTING + 1}:8: error: blocks and groups nest more than")
    assert "^" in message


# ---- §3: ref-unset, a warning; reading an unset reference fails the step -------------------


def test_a_reference_written_only_later_is_a_warning_and_fails_at_run_time() -> None:
    source = (
        "out <= switch[late] <= (\n a => send\n) <= switch <= (\n [b <= late.a.out] => send | next\n) <= in"
    )
    compilation = compile_source(source)
    assert compilation.ok and sorted(d.code for d in compilation.warnings) == ["ref-unset", "undeclared", "undeclared"]
    result, _ = run_flow(source)
    assert paths(result) == ["switch1.b:next!", "late.a:send"]


@pytest.mark.parametrize(
    ("source", "warned"),
    [
        ("out <= switch <= ( [b <= first.a.out] => send ) <= switch[first] <= ( a => send ) <= in", False),
        ("out <= switch[loop]<3> <= (\n [b <= loop.a.out] => next | cancel\n a => [loop.jump]\n) <= in", True),
        ("out <= switch <= ( [b <= m.out] => send ) <= match[m] <= ( error => send\n default => send ) <= in", False),
        ("out <= switch <= ( [b <= l.a.out] => send ) <= select[l] <= ( a => send\n c => send ) <= in", False),
        ("out <= switch[l] <= ( [a <= l.a.out] => next | send ) <= in", True),
    ],
    ids=["written-first", "read-first-in-a-loop", "block-output", "one-path-writes", "reads-itself"],
)
def test_ref_unset_follows_the_first_pass(source: str, warned: bool) -> None:
    compilation = compile_source(source)
    assert compilation.ok, compilation.render()
    assert ("ref-unset" in [d.code for d in compilation.warnings]) is warned, compilation.render()


# ---- §3: a reference to a worker name two steps share is ambiguous --------------------------


@pytest.mark.parametrize(
    "reference",
    ["[b <= s.a.out] => send", "b => [s.a.jump] | send"],
    ids=["out", "jump"],
)
def test_a_reference_to_a_repeated_worker_is_ambiguous(reference: str) -> None:
    source = f"out <= switch <= ( {reference} ) <= switch[s] <= (\n a => next\n a => next\n) <= in"
    compilation = compile_source(source)
    assert [d.code for d in compilation.errors] == ["ambiguous-ref"]
    assert "s has 2 steps named `a`" in compilation.errors[0].message


# ---- §3: a select whose steps are all consumed ends with the last output --------------------


def test_a_select_with_every_step_consumed_passes_on_the_last_output() -> None:
    result, _ = run_flow("out <= select <= (\n a<1> => continue\n) <= in", chooser=FirstChooser())
    assert result.ok and result.output.as_text() == "in>a"


# ---- §4: rule-decided cases first, then the chooser among words (and default) --------------

FAILED = Reply(attributes=(("status", "error"),))
"""An output whose status says it failed (a step that fails outright would end the run)."""


def test_a_case_after_default_is_tried_before_it() -> None:
    source = "out <= match <= (\n default => send\n error => cancel\n) <= a <= in"
    result, _ = run_flow(source, scripts={"a": [FAILED]})
    assert result.status is Status.CANCELLED and paths(result)[-1] == "match1.error:cancel"


def test_rules_decide_before_the_chooser_is_asked() -> None:
    source = "out <= match <= (\n yes => send\n error => cancel\n default => send\n) <= a <= in"
    chooser = ScriptedChooser([])
    result, _ = run_flow(source, scripts={"a": [FAILED]}, chooser=chooser)
    assert paths(result)[-1] == "match1.error:cancel" and not chooser.choices
    chooser = ScriptedChooser(["default"])
    result, _ = run_flow(source, chooser=chooser)
    assert paths(result)[-1] == "match1.default:send"
    assert chooser.choices[0][0].options == ("yes", "default")


# ---- §1: the optimiser overlaps only steps free of side effects ------------------------------


def test_only_checks_free_of_side_effects_are_marked_parallel() -> None:
    pure = graph_of("use c1 = classify\nuse c2 = detect\nout <= switch <= (\n c1 => continue\n c2 => continue\n b => send\n) <= in")
    assert [s.parallel for s in pure.steps()] == ["switch1.parallel1", "switch1.parallel1", None]
    writes = graph_of("use log = registers\nuse c2 = detect\nout <= switch <= (\n log => continue\n c2 => continue\n b => send\n) <= in")
    assert [s.parallel for s in writes.steps()] == [None, None, None]
