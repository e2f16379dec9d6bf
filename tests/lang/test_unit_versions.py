"""``use x = pkg.kind >= 1.2``: dotted unit names and a version requirement on the unit's package."""

from __future__ import annotations

import pytest

from smolcpu.lang import UnitCatalog, UnitInfo, compile_source, format_program, parse
from smolcpu.lang._ast import Constraint, Use

FLOW = "\nout <= switch <= (\n    n => send\n) <= in\n"
CATALOG = UnitCatalog([UnitInfo("textstats.count", deterministic=True, parameters=("lower",), package="smol-textstats", version="1.2.0")])


def test_a_dotted_kind_with_constraints_parses_and_prints_back() -> None:
    source = 'use n = textstats.count >= 1.2, < 2 "count the words" with lower = true' + FLOW
    (use,) = parse(source).declarations
    assert use == Use("n", "textstats.count", "count the words", use.params, (Constraint(">=", "1.2"), Constraint("<", "2")))
    assert use.specifier == ">=1.2,<2"
    printed = format_program(parse(source))
    assert printed.startswith('use n = textstats.count >= 1.2, < 2 "count the words" with lower = true\n')
    assert parse(printed) == parse(source)


@pytest.mark.parametrize("requirement", ["", ">= 1.2", ">= 1, < 2", "== 1.2.0", "~= 1.1"])
def test_a_requirement_the_package_meets_is_fine(requirement: str) -> None:
    compilation = compile_source(f"use n = textstats.count {requirement}" + FLOW, catalog=CATALOG)
    assert compilation.ok, compilation.diagnostics


def test_a_requirement_the_package_does_not_meet_is_an_error_with_the_fix() -> None:
    compilation = compile_source("use n = textstats.count >= 2" + FLOW, catalog=CATALOG)
    (found,) = compilation.errors
    assert found.code == "unit-version" and found.line == 1
    assert "needs textstats.count >=2; it comes from smol-textstats 1.2.0" in found.message
    assert found.hint == "install a version that fits: pip install 'smol-textstats>=2'"


def test_a_requirement_that_is_no_version_is_reported() -> None:
    compilation = compile_source("use n = textstats.count ~= 1" + FLOW, catalog=CATALOG)
    assert [d.code for d in compilation.errors] == ["bad-version"]


def test_built_in_units_come_from_smolcpu_and_its_version() -> None:
    assert compile_source("use n = math >= 0.1, < 1" + FLOW).ok
    assert [d.code for d in compile_source("use n = math >= 99" + FLOW).errors] == ["unit-version"]
