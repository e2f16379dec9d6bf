"""The executor runs every rule of LANGUAGE.md on scripted workers (real tools where named)."""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path

import pytest
from rich.console import Console

from smolcpu.artifact import Artifact, RunIndex, open_store
from smolcpu.cli._runs import trace_tree
from smolcpu.testing import FirstChooser, Reply, ScriptedChooser, ScriptedWorker, scripted
from smolcpu.vm import Executor, Status
from tests.vm.flows import graph_of, run_flow, run_graph, workers_for


def paths(result) -> list[str]:  # noqa: ANN001
    return [str(v) for v in result.path]


# ---- outcomes ---------------------------------------------------------------------------


def test_next_and_send_pass_each_output_on() -> None:
    result, _ = run_flow("out <= switch <= (\n a => next\n b => send\n c => send\n) <= in")
    assert result.status is Status.OK
    assert result.output.as_text() == "in>a>b"
    assert paths(result) == ["switch1.a:next", "switch1.b:send"]


def test_back_returns_the_output_to_the_step_before() -> None:
    result, workers = run_flow(
        "out <= switch <= (\n a => next\n b => send | back\n) <= in", scripts={"b": [Reply(outcome="back")]}
    )
    assert paths(result) == ["switch1.a:next", "switch1.b:back", "switch1.a:next", "switch1.b:send"]
    assert workers["a"].calls[1].as_text() == "in>a>b"
    assert result.output.as_text() == "in>a>b>a>b"


def test_back_n_goes_n_steps_earlier() -> None:
    source = "out <= switch <= (\n a => next\n b => next\n c => send | back * 2\n) <= in"
    result, _ = run_flow(source, scripts={"c": [Reply(outcome="back * 2")]})
    assert paths(result) == [
        "switch1.a:next", "switch1.b:next", "switch1.c:back * 2", "switch1.a:next", "switch1.b:next", "switch1.c:send",
    ]


def test_continue_passes_the_input_unchanged() -> None:
    result, workers = run_flow("out <= switch <= (\n check => continue\n b => send\n) <= in")
    assert workers["b"].calls[0].as_text() == "in"
    assert result.output.as_text() == "in>b"


def test_cancel_ends_the_run_with_the_reason() -> None:
    result, workers = run_flow(
        "out <= switch <= (\n a => next | cancel\n b => send\n) <= in",
        scripts={"a": [Reply(text="no way", outcome="cancel")]},
    )
    assert result.status is Status.CANCELLED
    assert "switch1.a cancelled the run" in result.reason
    assert not workers["b"].calls


# ---- failures take the next alternative ---------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [Reply(fail="boom"), Reply(error="bad input"), Reply(outcome="send")],
    ids=["raises", "error-artifact", "unlisted-outcome"],
)
def test_a_failure_takes_the_alternative_after_the_first(reply: Reply) -> None:
    source = "out <= switch <= (\n a => next\n verify => next | back\n b => send\n) <= in"
    result, _ = run_flow(source, scripts={"verify": [reply]})
    assert paths(result)[:3] == ["switch1.a:next", "switch1.verify:back!", "switch1.a:next"]
    assert result.status is Status.OK


def test_a_failure_with_no_alternative_ends_the_run_in_error() -> None:
    result, _ = run_flow("out <= switch <= (\n a => send\n) <= in", scripts={"a": [Reply(error="it broke")]})
    assert result.status is Status.ERROR
    assert "switch1.a failed and has no alternative: it broke" in result.reason
    assert paths(result) == ["switch1.a:failed!"]


def test_a_worker_that_names_no_outcome_takes_the_first() -> None:
    """LANGUAGE.md §2: `verify => back | continue` goes back unless verify says continue."""
    source = "out <= switch <= (\n a => next\n verify => back | continue\n b => send\n) <= in"
    result, _ = run_flow(source, scripts={"verify": [Reply(), Reply(outcome="continue")]})
    assert paths(result) == [
        "switch1.a:next", "switch1.verify:back", "switch1.a:next", "switch1.verify:continue", "switch1.b:send",
    ]


# ---- deadlines, budget, cancellation ------------------------------------------------------


def test_an_overrun_takes_timeout_and_a_match_routes_it() -> None:
    source = (Path(__file__).parents[1] / "lang/corpus/14_timeout_route.smol").read_text()
    graph = graph_of(source)
    workers = workers_for(graph, {"slow": [Reply(delay=5)]})
    began = time.monotonic()
    result = run_graph(graph, workers=workers, step_timeouts={"slow": 0.1})
    assert time.monotonic() - began < 3
    assert paths(result) == ["switch1.slow:timeout", "match1.timeout:[quick.jump]", "quick.fallback:send"]
    assert "overran its deadline of 0.1s" in workers["fallback"].calls[0].as_text()


def test_an_overrun_without_timeout_is_a_failure() -> None:
    result, _ = run_flow(
        "out <= switch <= (\n slow => send | cancel\n) <= in", scripts={"slow": [Reply(delay=5)]}, step_timeout=0.1
    )
    assert result.status is Status.CANCELLED
    assert paths(result) == ["switch1.slow:cancel!"]


def test_a_block_ending_in_timeout_ends_the_run_timeout() -> None:
    result, _ = run_flow(
        "out <= switch <= (\n slow => send | timeout\n) <= in", scripts={"slow": [Reply(delay=5)]}, step_timeout=0.1
    )
    assert result.status is Status.TIMEOUT
    assert result.output.attr("status") == "timeout"


def test_the_step_budget_ends_a_loop() -> None:
    result, workers = run_flow("out <= switch[loop] <= (\n a => [loop.jump]\n) <= in", budget=25)
    assert result.status is Status.BUDGET
    assert "BudgetError" in result.reason and "25 steps" in result.reason
    assert len(workers["a"].calls) == 13, "each run of `a` and each of its jumps counts: 13 runs, 12 jumps"
    assert result.steps == 25


def test_cancelling_a_run_stops_its_running_steps() -> None:
    graph = graph_of("out <= join <= (\n out <= a <= in\n out <= b <= in\n) <= in")
    workers = workers_for(graph, {"a": [Reply(delay=30)], "b": [Reply(delay=30)]})

    async def go() -> tuple:
        async with Executor(graph, workers=workers, record=False) as executor:
            execution = executor.start("in")
            while len(workers["a"].calls) + len(workers["b"].calls) < 2:
                await asyncio.sleep(0.01)
            began = time.monotonic()
            execution.cancel("the user pressed stop")
            result = await execution.result()
            return result, time.monotonic() - began, dict(executor.workers.refs)

    result, took, left = asyncio.run(go())
    assert result.status is Status.CANCELLED
    assert "the user pressed stop" in result.reason
    assert took < 2
    assert left == {}, "the units working on the cancelled steps were stopped"


def test_a_second_cancel_during_the_clean_up_still_records_the_run_as_ended(tmp_path: Path) -> None:
    graph = graph_of("out <= a <= in")
    workers = workers_for(graph, {"a": [Reply(delay=30)]})

    async def go() -> str:
        with RunIndex(tmp_path / "index.db") as index, open_store(str(tmp_path / "store"), index=index) as store:
            async with Executor(graph, workers=workers, store=store) as executor:
                execution = executor.start("in")
                while not workers["a"].calls:
                    await asyncio.sleep(0.01)
                execution.cancel("the client went away")
                while not execution.task.done():  # cancelled again, and again, while it cleans up
                    await asyncio.sleep(0)
                    execution.task.cancel()
                await asyncio.gather(execution.task, return_exceptions=True)
                return index.run(execution.run_id).status

    assert asyncio.run(go()) == "cancelled"


def test_a_cancel_in_one_join_branch_stops_the_other() -> None:
    source = "out <= join <= (\n out <= switch <= ( a => next | cancel )\n out <= b <= in\n) <= in"
    began = time.monotonic()
    result, workers = run_flow(source, scripts={"a": [Reply(delay=0.2, error="nope")], "b": [Reply(delay=30)]})
    assert time.monotonic() - began < 5
    assert result.status is Status.CANCELLED
    assert len(workers["b"].calls) == 1


# ---- blocks ---------------------------------------------------------------------------------


def test_select_asks_the_chooser_and_consumes_limited_steps() -> None:
    chooser = ScriptedChooser(["reason", "reason", "answer"])
    source = "out <= select <= (\n reason<2> => next | cancel\n answer => send | cancel\n) <= in"
    result, _ = run_flow(source, chooser=chooser)
    assert result.output.as_text() == "in>reason>reason>answer"
    offered = [choice.options for choice, _ in chooser.choices]
    assert offered == [("reason", "answer"), ("reason", "answer"), ("answer",)]


def test_a_select_with_nothing_left_to_choose_ends() -> None:
    result, _ = run_flow("out <= select <= (\n a<2> => next\n) <= in", chooser=FirstChooser())
    assert result.output.as_text() == "in>a>a"
    assert result.ok


def test_a_consumed_step_in_a_switch_is_skipped_as_continue() -> None:
    source = "out <= switch[loop]<3> <= (\n a<2> => next\n b => next | [loop.jump]\n) <= in"
    result, _ = run_flow(source, scripts={"b": [Reply(outcome="[loop.jump]"), Reply(outcome="[loop.jump]")]})
    assert paths(result) == [
        "loop.a:next", "loop.b:[loop.jump]", "loop.a:next", "loop.b:[loop.jump]", "loop.a:skip", "loop.b:next",
    ]
    assert result.output.as_text() == "in>a>b>a>b>b"


def test_done_holds_on_the_last_entry_of_a_limited_block() -> None:
    source = (Path(__file__).parents[1] / "lang/corpus/17_done_in_loop.smol").read_text()
    result, workers = run_flow(source)
    assert len(workers["refine"].calls) == 5
    assert paths(result)[-1] == "match1.done:send"
    assert paths(result).count("match1.default:[polish.jump]") == 4


def test_a_jump_into_a_step_of_another_block() -> None:
    source = (Path(__file__).parents[1] / "lang/corpus/07_jump_to_step.smol").read_text()
    result, _ = run_flow(source, scripts={"parse": [Reply(attributes=(("status", "partial"),))]})
    assert paths(result) == ["main.parse:next", "match1.default:[fix.repair.jump]", "fix.repair:next", "fix.finish:send"]


def test_a_reference_reads_the_latest_output_of_an_earlier_step() -> None:
    source = (
        "out <= switch <= (\n [b <= first.a.out] => send\n) <= switch <= (\n x => send\n)"
        " <= switch[first] <= (\n a => send\n) <= in"
    )
    result, workers = run_flow(source)
    assert workers["b"].calls[0].as_text() == "in>a"
    assert result.output.as_text() == "in>a>b"


def test_join_runs_branches_concurrently_and_fans_in() -> None:
    source = "out <= join <= (\n out <= a <= in\n out <= switch <= ( b => next )\n) <= in"
    result, workers = run_flow(source, scripts={"a": [Reply(delay=0.4)], "b": [Reply(delay=0.4)]})
    (a_began, a_ended), (b_began, b_ended) = workers["a"].spans[0], workers["b"].spans[0]
    assert max(a_began, b_began) < min(a_ended, b_ended), "the branches overlap"
    assert result.output.as_json() == ["in>a", "in>b"]
    assert len(result.output.parents) == 2


# ---- parallel groups of continue-only steps ------------------------------------------------

PURE = "use c1 = classify\nuse c2 = classify\nuse c3 = detect\n"
"""Units that declare themselves free of side effects (deterministic): only they may overlap."""
CHECKS = PURE + "out <= switch <= (\n c1 => continue\n c2 => continue\n c3 => continue | cancel\n b => send\n) <= in"
"""Three pure checks the optimiser groups (they all see the input), then the step that uses it."""


def test_a_group_of_continue_steps_runs_concurrently(smol_home: Path) -> None:
    graph = graph_of(CHECKS)
    assert {step.parallel for step in graph.steps() if step.worker.startswith("c")} == {"switch1.parallel1"}
    workers = workers_for(graph, {name: [Reply(delay=1.0 - 0.2 * i)] for i, name in enumerate(("c1", "c2", "c3"))})
    result = run_graph(graph, workers=workers, record=True)
    spans = [workers[name].spans[0] for name in ("c1", "c2", "c3")]
    assert max(began for began, _ in spans) < min(ended for _, ended in spans), f"the checks overlap: {spans}"
    assert result.ok and result.steps == 4
    assert [workers[name].calls[0].as_text() for name in ("c1", "c2", "c3", "b")] == ["in"] * 4
    assert result.output.as_text() == "in>b"
    assert paths(result) == ["switch1.c1:continue", "switch1.c2:continue", "switch1.c3:continue", "switch1.b:send"]
    with RunIndex() as index:
        origins = {record.origin for record in index.artifacts(result.run_id)}
    assert {"switch1.c1", "switch1.c2", "switch1.c3", "switch1.b"} <= origins


def test_checks_with_side_effects_run_one_after_another() -> None:
    """Finding 3 of issue 12: when `guard` cancels, `audit` (which may write) has not been called."""
    source = "out <= switch <= (\n guard => continue | cancel\n audit => continue\n b => send\n) <= in"
    assert {step.parallel for step in graph_of(source).steps()} == {None}
    result, workers = run_flow(source, scripts={"guard": [Reply(delay=0.2, outcome="cancel")]})
    assert result.status is Status.CANCELLED
    assert not workers["audit"].calls and not workers["b"].calls
    assert paths(result) == ["switch1.guard:cancel"]


def test_in_a_group_the_first_stop_in_program_order_decides() -> None:
    """c3 cancels at once, but c1, before it, fails with no alternative: run in order, c1 ends the run."""
    scripts = {"c1": [Reply(delay=0.3, error="bad input")], "c3": [Reply(outcome="cancel")]}
    result, workers = run_flow(CHECKS, scripts=scripts)
    assert result.status is Status.ERROR
    assert "switch1.c1 failed and has no alternative: bad input" in result.reason
    assert paths(result) == ["switch1.c1:failed!"]
    assert not workers["b"].calls


def test_a_failure_in_a_group_stops_the_steps_after_it() -> None:
    scripts = {"c1": [Reply(delay=0.2)], "c2": [Reply(delay=0.1, error="bad input")], "c3": [Reply(delay=30)]}
    began = time.monotonic()
    result, workers = run_flow(CHECKS, scripts=scripts)
    assert time.monotonic() - began < 5, "c3, after the failure, was cancelled, not waited for"
    assert result.status is Status.ERROR
    assert "switch1.c2 failed and has no alternative: bad input" in result.reason
    assert len(workers["c1"].calls) == len(workers["c3"].calls) == 1 and not workers["b"].calls
    assert paths(result) == ["switch1.c1:continue", "switch1.c2:failed!"]


def test_a_failure_in_a_group_takes_its_alternative() -> None:
    result, workers = run_flow(CHECKS, scripts={"c3": [Reply(error="not allowed")], "c1": [Reply(delay=0.2)]})
    assert result.status is Status.CANCELLED and "not allowed" in result.reason
    assert paths(result) == ["switch1.c1:continue", "switch1.c2:continue", "switch1.c3:cancel!"]
    assert len(workers["c1"].calls) == 1 and not workers["b"].calls


def test_a_group_that_may_overrun_the_budget_runs_step_by_step() -> None:
    result, workers = run_flow(CHECKS, scripts={"c1": [Reply(delay=0.1)]}, budget=2)
    assert result.status is Status.BUDGET and "at switch1.c3" in result.reason
    assert [len(workers[name].calls) for name in ("c1", "c2", "c3")] == [1, 1, 0]


def test_cancelling_a_run_stops_a_running_group() -> None:
    graph = graph_of(CHECKS)
    workers = workers_for(graph, {"c1": [Reply(delay=30)], "c2": [Reply(delay=30)], "c3": [Reply(delay=30)]})

    async def go() -> tuple:
        async with Executor(graph, workers=workers, record=False) as executor:
            execution = executor.start("in")
            while sum(len(workers[name].calls) for name in ("c1", "c2", "c3")) < 3:
                await asyncio.sleep(0.01)
            execution.cancel("the user pressed stop")
            return await execution.result(), dict(executor.workers.refs)

    began = time.monotonic()
    result, left = asyncio.run(go())
    assert time.monotonic() - began < 5
    assert result.status is Status.CANCELLED and "the user pressed stop" in result.reason
    assert left == {}, "the units working on the cancelled checks were stopped"


# ---- match patterns -------------------------------------------------------------------------

MATCH = """
out <= match <= (
    error      => send
    approved   => send
    image/*    => send
    "off topic" => send
    default    => send
) <= switch <= (
    a => next | send
) <= in
"""


@pytest.mark.parametrize(
    ("reply", "case"),
    [
        (Reply(error="x"), "match1.error"),
        (Reply(attributes=(("label", "approved"),)), "match1.approved"),
    ],
)
def test_match_by_condition_and_attribute(reply: Reply, case: str) -> None:
    result, _ = run_flow(MATCH, scripts={"a": [reply]}, chooser=ScriptedChooser([]))
    assert paths(result)[-1] == f"{case}:send"


def test_match_asks_the_chooser_among_plain_words() -> None:
    chooser = ScriptedChooser(["off topic"])
    result, _ = run_flow(MATCH, chooser=chooser)
    assert paths(result)[-1] == "match1.off topic:send"
    assert chooser.choices[0][0].options == ("approved", "off topic", "default")


def test_match_by_mime_type() -> None:
    graph = graph_of(MATCH)

    class Image(ScriptedWorker):
        async def handle(self, ctx, sender, artifact):  # noqa: ANN001, ANN201
            return Artifact.create(b"\x89PNG", type="image/png", parents=(artifact.id,))

    result = run_graph(graph, workers={"a": Image("a")}, chooser=ScriptedChooser([]))
    assert paths(result)[-1] == "match1.image/*:send"


def test_a_match_nothing_matches_fails_the_run() -> None:
    result, _ = run_flow("out <= match <= (\n success => send\n) <= a <= in", scripts={"a": [Reply(attributes=(("status", "partial"),))]})
    assert result.status is Status.ERROR
    assert "no case matches" in result.reason


# ---- real units, memo, recording ----------------------------------------------------------


def test_deterministic_units_are_memoised_by_input() -> None:
    graph = graph_of("use same = identity\nout <= switch <= (\n same => next\n) <= in", checked=False)
    assert next(graph.steps()).deterministic, "identity says it is deterministic (the optimiser would inline it)"

    async def go() -> list:
        async with Executor(graph, record=False) as executor:
            return [await executor.run("a"), await executor.run("a"), await executor.run("b")]

    first, again, other = asyncio.run(go())
    assert first.output.as_text() == again.output.as_text() == "a"
    assert first.output.attr("memo") is None
    assert again.output.attr("memo") is not None
    assert other.output.as_text() == "b" and other.output.attr("memo") is None


def test_every_step_is_recorded_under_the_run_id(smol_home: Path) -> None:
    source = "use calc = math\nout <= switch <= (\n calc => next\n b => send\n) <= in"
    result = run_graph(graph_of(source), "1+2", workers=scripted(["b"]), record=True)
    with RunIndex() as index:
        run = index.run(result.run_id)
        records = index.artifacts(result.run_id)
        console = Console(width=200, record=True, file=io.StringIO())
        console.print(trace_tree(result.run_id, index=index))
    assert run is not None and run.status == "ok" and run.program == "<flow>"
    origins = [r.origin for r in records]
    assert origins == ["in", "switch1.calc", "switch1.b"]
    assert [r.preview for r in records] == ["1+2", "3", "3>b"]
    assert records[1].parents == (records[0].id,) and records[2].parents == (records[1].id,)
    text = console.export_text()
    assert "switch1.calc" in text and "switch1.b" in text


def test_recording_off_stores_nothing(smol_home: Path) -> None:
    result, _ = run_flow("out <= a <= in", record=False)
    assert result.ok
    with RunIndex() as index:
        assert index.run(result.run_id) is None


def test_the_default_neural_worker_without_a_model_names_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMOL_CACHE", str(tmp_path / "empty-cache"))
    result = run_graph(graph_of("out <= reason <= in"))
    assert result.status is Status.ERROR
    assert "main.reason: cannot start worker `reason`" in result.reason
    assert "smol models install" in result.reason


def test_a_step_that_passes_on_a_reference_runs_and_names_no_outcome_of_its_own() -> None:
    source = "use same = identity\nout <= switch[s] <= (\n a => continue\n b => next\n [same <= s.a.out] => send\n) <= in"
    graph = graph_of(source)
    assert "s.same" in graph.nodes, "a bound identity step passes on what it reads: it is never inlined"
    result = run_graph(graph, workers=scripted(["a", "b"]))
    assert result.status is Status.OK, result.path
    assert result.output.as_text() == "in>a", "what `a` made, not what flowed in, and not `a`'s `continue`"
