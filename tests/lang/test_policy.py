"""The `policy` declaration: parsing, the printer's round trip, checking, and how policies combine."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smolcpu.lang import Policy, PolicyValueError, compile_source, format_program, parse, parse_settings

_FIGURE = st.integers(min_value=1, max_value=10**6)
_NAMES = st.lists(st.sampled_from(["math", "llm", "sandbox", "storage", "identity"]), max_size=4, unique=True)
_FOLDERS = st.lists(st.sampled_from(["notes", "a b", "/srv/data", "x/../y"]), max_size=3, unique=True)


def _written(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(f'"{v}"' if " " in v or "/" in v or "." in v else v for v in value) + "]"
    return str(value)


_SETTING = st.one_of(
    st.tuples(st.sampled_from(["wall_s", "cpu_s", "tokens", "memory_mb"]), _FIGURE),
    st.tuples(st.just("network"), st.booleans()),
    st.tuples(st.just("units"), _NAMES),
    st.tuples(st.just("folders"), _FOLDERS),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(_SETTING, min_size=1, max_size=5), min_size=1, max_size=3))
def test_policy_lines_round_trip_through_the_printer(lines: list[list[tuple[str, object]]]) -> None:
    source = "\n".join("policy " + ", ".join(f"{k} = {_written(v)}" for k, v in line) for line in lines)
    program = parse(source + "\nout <= a <= in\n")
    printed = format_program(program)
    assert parse(printed) == program
    assert format_program(parse(printed)) == printed


def test_a_program_policy_reaches_the_graph() -> None:
    compilation = compile_source(
        "policy wall_s = 5, tokens = 100, units = [math]\npolicy tokens = 50\nuse c = math\nout <= c <= in\n"
    )
    assert compilation.ok
    assert compilation.graph.policy == Policy(wall_s=5.0, tokens=50, units=frozenset({"math"}))
    assert compilation.graph.to_dict()["policy"] == {"wall_s": 5.0, "tokens": 50, "units": ["math"]}


def test_a_program_without_policy_line_has_none() -> None:
    assert compile_source("use c = math\nout <= c <= in\n").graph.policy is None


def test_settings_from_words() -> None:
    policy = parse_settings("tokens=2000 units=math,sandbox network=true wall_s=1.5 folders=notes")
    assert policy == Policy(wall_s=1.5, tokens=2000, units=frozenset({"math", "sandbox"}), network=True, folders=("notes",))
    assert Policy.from_dict(policy.to_dict()) == policy


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tokens", "not a policy setting"),
        ("toknes=3", "no policy setting `toknes`"),
        ("tokens=-3", "above 0"),
        ("tokens=1.5", "whole number"),
        ("wall_s=inf", "above 0"),
        ("network=yes", "true or false"),
        ("tokens=1 tokens=2", "twice"),
    ],
)
def test_bad_settings_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(PolicyValueError, match=message):
        parse_settings(text)


def test_the_tighter_policy_takes_the_least_of_each() -> None:
    program = Policy(wall_s=60, tokens=1000, units=frozenset({"math", "llm"}), network=True)
    ceiling = Policy(wall_s=10, cpu_s=5, units=frozenset({"math", "sandbox"}))
    both = program.under(ceiling)
    assert both == Policy(wall_s=10, cpu_s=5, tokens=1000, units=frozenset({"math"}), network=True)
    assert program.tighter(None) is program


@pytest.mark.parametrize(
    ("program", "ceiling", "networked"),
    [
        (None, None, False),
        (None, True, False),  # a ceiling caps: it never turns the network on
        (True, None, True),
        (True, True, True),
        (True, False, False),
        (False, True, False),
    ],
)
def test_the_network_is_on_only_when_the_program_asks_and_no_ceiling_forbids(
    program: bool | None, ceiling: bool | None, networked: bool
) -> None:
    assert Policy(network=program).under(Policy(network=ceiling)).networked is networked


def test_two_lines_of_a_program_keep_the_network_off_if_either_says_so() -> None:
    assert Policy(network=True).tighter(Policy()).network is True
    assert Policy(network=True).tighter(Policy(network=False)).network is False


def test_common_folders_are_those_inside_a_folder_of_each(tmp_path: Path) -> None:
    (tmp_path / "data" / "notes").mkdir(parents=True)
    (tmp_path / "other").mkdir()
    wide = Policy(folders=(str(tmp_path / "data"),))
    narrow = Policy(folders=(str(tmp_path / "data" / "notes"), str(tmp_path / "other")))
    assert wide.tighter(narrow).folders == (str(tmp_path / "data" / "notes"),)
    assert Policy(folders=(str(tmp_path / "other"),)).tighter(wide).folders == ()
