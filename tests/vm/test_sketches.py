"""Both sketches of concept/002, unmodified (copied into the corpus): their diagnostics, and end-to-end runs on scripted
workers with the path and the recorded trace asserted (LANGUAGE.md §6)."""

from __future__ import annotations

from pathlib import Path

from smolcpu.artifact import RunIndex
from smolcpu.lang import compile_file
from smolcpu.testing import FirstChooser, Reply, ScriptedChooser
from smolcpu.vm import Status
from tests.vm.flows import run_graph, workers_for

CORPUS = Path(__file__).resolve().parents[1] / "lang" / "corpus"


def recorded(run_id: str) -> list[tuple[str, str]]:
    """(node, preview) of every artifact the run recorded, oldest first."""
    with RunIndex() as index:
        return [(r.origin, r.preview) for r in index.artifacts(run_id)]


def test_sketch1_runs_end_to_end() -> None:
    compilation = compile_file(CORPUS / "sketch1.smol")
    assert compilation.ok
    assert {d.code for d in compilation.warnings} == {"undeclared"}
    graph = compilation.runnable()
    continue_ = Reply(outcome="continue")
    workers = workers_for(graph, {"verify": [Reply(), continue_, continue_], "report": [Reply(outcome="back * 2")]})
    result = run_graph(graph, "task", workers=workers, record=True)
    assert result.status is Status.OK
    assert [str(v) for v in result.path] == [
        "switch1.reason:next",
        "switch1.plan:next",
        "switch1.execute:next",
        "switch1.verify:back",  # verify names nothing: it takes its first outcome
        "switch1.execute:next",
        "switch1.verify:continue",  # its input, execute's output, goes on to report
        "switch1.report:back * 2",  # two steps back from report is execute
        "switch1.execute:next",
        "switch1.verify:continue",
        "switch1.report:next",
        "switch1.answer:send",
    ]
    assert result.output.as_text() == "task>reason>plan>execute>verify>execute>report>execute>report>answer"
    trace = recorded(result.run_id)
    assert trace[0] == ("in", "task")
    assert [node for node, _ in trace[1:]] == [str(v).split(":")[0] for v in result.path]


def test_sketch2_has_the_diagnostics_it_deserves() -> None:
    compilation = compile_file(CORPUS / "sketch2.smol")
    assert compilation.ok, "LANGUAGE.md §3: sketch 2 checks clean (with warnings) and runs"
    unset = [(d.code, d.line) for d in compilation.warnings if d.code == "ref-unset"]
    assert unset == [("ref-unset", 29)], "select1.plan reads step2.analyze.out, which only runs after the join"
    assert {d.code for d in compilation.warnings} == {"undeclared", "back-clamped", "ref-unset"}


def sketch2():  # noqa: ANN201
    """Sketch 2's graph, as `smol run` runs it (optimised)."""
    return compile_file(CORPUS / "sketch2.smol").runnable()


def test_sketch2_loops_five_times_then_jumps_past_the_join() -> None:
    graph = sketch2()
    review = Reply(attributes=(("status", "review"),))
    workers = workers_for(graph, {"enrich": [Reply()] * 4 + [review]})
    result = run_graph(graph, "data", workers=workers, chooser=ScriptedChooser([]), record=True)
    assert result.status is Status.OK
    loop = ["mylabel.clean:next", "mylabel.validate:next", "mylabel.enrich:next"]
    assert [str(v) for v in result.path] == (
        (loop + ["match2.default:[mylabel.jump]"]) * 4
        + loop
        + ["match2.done:send", "match1.default:[step2.analyze.jump]"]
        + ["step2.analyze:next", "step2.model:next", "step2.optimize:send"]
        + ["switch1.clean:next", "switch1.validate:next", "switch1.enrich:send"]
    )
    assert result.output.as_text() == "data" + ">clean>validate>enrich" * 5 + ">analyze>model>optimize>clean>validate>enrich"
    trace = recorded(result.run_id)
    assert [node for node, _ in trace][-3:] == ["switch1.clean", "switch1.validate", "switch1.enrich"]
    assert len(trace) == 1 + 21


def test_sketch2_through_the_join_until_reason_cancels() -> None:
    graph = sketch2()
    workers = workers_for(graph, {"reason": [Reply(), Reply(outcome="cancel")], "save": [Reply(delay=0.2)]})
    chooser = ScriptedChooser({"select1": ["reason", "plan", "reason"]})
    result = run_graph(graph, "data", workers=workers, chooser=chooser)
    assert result.status is Status.CANCELLED
    assert "select1.reason cancelled the run" in result.reason
    taken = [str(v) for v in result.path]
    assert "match1.success:send" in taken
    assert "select1.plan:back!" in taken, "plan fails: step2.analyze has no output yet, so it takes `back`"
    assert taken[-1] == "select1.reason:cancel"
    assert "switch2.save:send" not in taken, "the cancel stopped the other branch of the join"


def test_sketch2_select_loops_until_the_step_budget() -> None:
    graph = sketch2()
    result = run_graph(graph, "data", workers=workers_for(graph), chooser=FirstChooser(), budget=60)
    assert result.status is Status.BUDGET
    assert result.steps == 60
    taken = [str(v) for v in result.path]
    assert taken.count("select1.reason:next") == 5, "reason<5> is consumed after five runs"
    assert taken[-1] == "select1.plan:back!"
