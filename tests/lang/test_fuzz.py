"""Random well-formed programs go through the whole front end without a crash."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smolcpu.errors import FlowSyntaxError
from smolcpu.lang import UnitCatalog, UnitInfo, compile_source, format_program, parse

CATALOG = UnitCatalog([UnitInfo("math", deterministic=True, parameters=("registers",))])
WORKERS = st.sampled_from(["a", "b", "calc", "tidy", "zz"])
LABELS = st.sampled_from(["l1", "l2", "l3"])
LIMIT = st.one_of(st.just(""), st.integers(0, 7).map(lambda k: f"<{k}>"))
OUTCOME = st.one_of(
    st.sampled_from(["next", "back", "continue", "send", "cancel", "timeout", "back * 2", "back * 0"]),
    st.builds(lambda label, worker: f"[{label}.{worker}.jump]", LABELS, WORKERS),
    LABELS.map(lambda label: f"[{label}.jump]"),
)
OUTCOMES = st.lists(OUTCOME, min_size=1, max_size=3).map(" | ".join)


def _step() -> st.SearchStrategy[str]:
    plain = st.builds(lambda w, k: w + k, WORKERS, LIMIT)
    bound = st.builds(lambda w, label, s: f"[{w} <= {label}.{s}.out]", WORKERS, LABELS, WORKERS)
    return st.builds(lambda head, outs: f"{head} => {outs}", st.one_of(plain, bound), OUTCOMES)


def _block(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    head = st.builds(
        lambda kind, label, limit: kind + (f"[{label}]" if label else "") + limit,
        st.sampled_from(["switch", "select", "join"]),
        st.one_of(st.none(), LABELS),
        LIMIT,
    )
    body = st.lists(st.one_of(_step(), inner), max_size=4).map("\n".join)
    flow_block = st.builds(lambda h, b: f"{h} <= (\n{b}\n)", head, body)
    case = st.builds(
        lambda p, o: f"{p} => {o}", st.sampled_from(["done", "success", "default", "x", "text/plain"]), OUTCOMES
    )
    match = st.builds(lambda cases: "match <= (\n" + "\n".join(cases) + "\n)", st.lists(case, max_size=4))
    return st.one_of(flow_block, match)


STAGE = st.recursive(
    st.builds(lambda w, k: w + k, WORKERS, LIMIT),
    lambda inner: _block(st.lists(inner, min_size=1, max_size=3).map(lambda s: "out <= " + " <= ".join(s))),
    max_leaves=12,
)
PROGRAM = st.builds(
    lambda decls, stages: decls + "out <= " + " <= ".join(stages) + " <= in\n",
    st.sampled_from(["", "use calc = math\n", "use tidy = identity\nuse calc = math\n"]),
    st.lists(STAGE, min_size=1, max_size=3),
)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(PROGRAM)
def test_front_end_never_crashes(source: str) -> None:
    program = parse(source)
    formatted = format_program(program)
    assert parse(formatted) == program
    assert format_program(parse(formatted)) == formatted
    compilation = compile_source(source, catalog=CATALOG)
    compilation.render()
    for graph in [compilation.graph, *([compilation.optimised] if compilation.ok else [])]:
        graph.dump()
        graph.to_dot()
        graph.to_mermaid()
        graph.to_json()
        for node in graph.nodes.values():
            for child in graph.children(node.id):
                assert graph[child].parent == node.id
            for outcome in getattr(node, "outcomes", []):
                assert outcome.target is None or outcome.target in graph.nodes
                assert outcome.exit is None or outcome.exit in graph.nodes


TOKENS = st.sampled_from(
    "out in <= => ( ) [ ] < > | || * 2 0 switch select match join a b next back send cancel continue timeout "
    "done default [l.jump] l.a.out . use = \"s\" with import smol >= 0.1 , text/plain ; \n -> :".split(" ")
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(TOKENS, min_size=1, max_size=30).map(" ".join))
def test_any_text_is_a_program_or_a_syntax_error(source: str) -> None:
    """Issue 12, finding 4: lark's hint machinery once leaked a TypeError; only FlowSyntaxError may leave."""
    try:
        compile_source(source, catalog=CATALOG)
    except FlowSyntaxError as exc:
        assert ": syntax error" in str(exc) or ": error:" in str(exc) or str(exc).startswith("<flow>: ")
