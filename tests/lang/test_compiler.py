"""Compiler, checker, optimiser and drawings on the sketches and small programs."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from smolcpu.lang import Block, Step, UnitCatalog, UnitInfo, compile_file, compile_source


def _codes(compilation) -> list[str]:  # type: ignore[no-untyped-def]
    return [d.code for d in compilation.diagnostics]


def test_sketch_one_compiles_with_warnings_only(sketches: list[str]) -> None:
    compilation = compile_source(sketches[0], path="sketch1.smol")
    assert compilation.ok
    assert set(_codes(compilation)) == {"undeclared"}
    graph = compilation.runnable()
    report = graph["switch1.report"]
    assert isinstance(report, Step)
    assert [(o.kind, o.target, o.exit) for o in report.outcomes] == [
        ("next", "switch1.answer", None),
        ("back", "switch1.execute", None),
        ("cancel", None, None),
    ]
    assert [(o.kind, o.target) for o in graph["switch1.verify"].outcomes] == [  # type: ignore[attr-defined]
        ("back", "switch1.execute"),
        ("continue", "switch1.report"),
    ]
    assert graph["switch1.answer"].outcomes[0].exit == "switch1"  # type: ignore[attr-defined]


def test_sketch_two_resolves_everything_and_warns_of_the_read_before_write(sketches: list[str]) -> None:
    compilation = compile_source(sketches[1], path="sketch2.smol")
    assert compilation.ok, "LANGUAGE.md §3: sketch 2 checks clean (a warning, not an error) and runs"
    unset = [(d.line, d.column) for d in compilation.warnings if d.code == "ref-unset"]
    assert unset == [(26, 13)]
    assert "back-clamped" in _codes(compilation)
    graph = compilation.graph
    assert graph["main"].children == ["mylabel", "match1", "join1", "step2", "switch1"]  # type: ignore[attr-defined]
    assert graph["select1.plan"].bind_target == "step2.analyze"  # type: ignore[attr-defined]
    assert graph["match1.default"].outcomes[0].target == "step2.analyze"  # type: ignore[attr-defined]
    assert graph["match2.default"].outcomes[0].target == "mylabel"  # type: ignore[attr-defined]
    mylabel = graph["mylabel"]
    assert isinstance(mylabel, Block) and mylabel.limit == 5 and mylabel.children[-1] == "match2"
    text = compilation.runnable().dump()
    assert "join1: branches select1, switch2 run in parallel" in text


def test_json_form_is_complete(sketches: list[str]) -> None:
    data = json.loads(compile_source(sketches[0]).graph.to_json())
    nodes = {n["id"]: n for n in data["nodes"]}
    assert nodes["switch1.reason"]["binding"]["unit"] == "llm"
    assert nodes["switch1.reason"]["binding"]["declared"] is False
    assert nodes["switch1"]["kind"] == "switch"
    assert {"source": "in", "target": "switch1", "kind": "data", "label": ""} in data["edges"]


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz (apt install graphviz) draws the dot form")
def test_dot_draws_with_graphviz(sketches: list[str], tmp_path: Path) -> None:
    dot = compile_source(sketches[1]).graph.to_dot()
    svg = subprocess.run(["dot", "-Tsvg"], input=dot, capture_output=True, text=True, check=True).stdout
    assert "<svg" in svg and "step2.analyze" in dot


def test_mermaid_has_every_node_once(sketches: list[str]) -> None:
    graph = compile_source(sketches[1]).graph
    text = graph.to_mermaid()
    assert text.startswith("flowchart TD")
    for node_id in graph.nodes:
        mermaid_id = "n_" + node_id.replace(".", "_").replace("#", "_")
        declared = [line for line in text.splitlines() if line.strip().startswith(f"{mermaid_id}[")
                    or line.strip().startswith(f"{mermaid_id}(") or line.strip().startswith(f"{mermaid_id}{{")]
        assert len(declared) == 1, node_id
    lines = [line.strip() for line in text.splitlines()]
    assert sum(line.startswith("subgraph") for line in lines) == lines.count("end") == 9


def test_optimiser_prunes_inlines_and_marks_parallel() -> None:
    source = """
use tidy = identity
use log = registers
use a = llm "A."
use b = llm "B."
out <= switch <= (
    log  => continue
    a    => next
    tidy => next
    b    => send | back
    a    => send
) <= match <= (
    default => send
    error   => cancel
) <= in
"""
    compilation = compile_source(source, path="o.smol")
    assert compilation.ok, compilation.render()
    graph = compilation.optimised
    assert "switch1.tidy" not in graph.nodes and "switch1.a#2" not in graph.nodes
    assert "match1.error" in graph.nodes, "a case after `default` is tried first (LANGUAGE.md §4): it stays"
    assert graph["switch1.a"].outcomes[0].target == "switch1.b"  # type: ignore[attr-defined]
    assert graph["switch1.log"].parallel is None and graph["switch1.a"].parallel is None, "log writes registers"
    notes = "\n".join(graph.optimisations)
    assert "switch1.tidy: inlined" in notes
    assert "switch1.a#2: pruned, nothing leads to it" in notes
    assert "parallel" not in notes
    assert compilation.graph.nodes.keys() >= {"switch1.tidy", "switch1.a#2"}, "the original is left alone"


def test_imports_resolve_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "tools.smol").write_text(
        'use calc = math\nuse same = identity\nuse think = llm "Think."\n'
    )
    main = tmp_path / "main.smol"
    main.write_text(
        'import "lib/tools.smol"\nuse think = llm "Think harder."\nout <= think <= same <= calc <= in\n'
    )
    compilation = compile_file(main)
    assert compilation.ok
    assert compilation.scope.bindings["same"].deterministic
    assert not compilation.scope.bindings["calc"].deterministic  # reads registers through $name
    assert compilation.scope.bindings["think"].instruction == "Think harder."
    assert _codes(compilation) == ["shadowed"]


def test_catalog_can_be_given() -> None:
    catalog = UnitCatalog([UnitInfo("search", deterministic=True, parameters=("index",))])
    compilation = compile_source('use find = search with idx = "x"\nout <= find <= in\n', catalog=catalog)
    (diagnostic,) = compilation.errors
    assert diagnostic.code == "unknown-param" and diagnostic.hint == "did you mean `index`?"


def test_registry_units_are_known() -> None:
    names = UnitCatalog.from_registry().units
    assert {"math", "llm", "identity"} <= set(names)
    assert names["identity"].deterministic and names["classify"].deterministic
    assert not names["math"].deterministic and not names["storage"].deterministic
    assert not names["llm"].deterministic


def test_answering_steps_are_those_that_send_out_of_the_last_block() -> None:
    source = """smol >= 0.1
use draft = llm "Draft."
use polish = llm "Polish."
use check = check with want = "text"

out <= switch <= (
    out <= switch[inner] <= (
        draft => send
    )
    polish => send
    check => send | next
) <= in
"""
    graph = compile_source(source).runnable()
    assert graph.answering_steps() == {"switch1.polish"}  # draft sends out of the inner block only
    default = compile_file(Path(__file__).resolve().parents[2] / "smolcpu/programs/default.smol").runnable()
    assert {"ask.chat", "ask.see", "ask.answer"} <= default.answering_steps()
    assert not {"ask.express", "ask.write", "ask.check", "ask.program"} & default.answering_steps()
