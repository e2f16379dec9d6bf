"""The math tool: exact arithmetic checked against Python and sympy, registers, safety, errors."""

from __future__ import annotations

import ast
import asyncio
import decimal
import math
import subprocess
import sys
from fractions import Fraction
from typing import Any

import pytest
import sympy
from hypothesis import example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from smolcpu import config
from smolcpu.artifact import Artifact
from smolcpu.cli import app
from smolcpu.errors import UsageError
from smolcpu.units.tools import MathTool, Registers, evaluate
from smolcpu.units.tools._math import MAX_OPERATORS, MAX_RESULT_BITS


def parse_result(text: str) -> Any:
    """The value a result text stands for (the inverse of the tool's formatting)."""
    if text in ("true", "false"):
        return text == "true"
    return Fraction(text)


class _ExactLiterals(ast.NodeTransformer):
    """Python's own evaluation, made exact: every integer literal becomes a Fraction, and so does
    every floor division's result (``Fraction // Fraction`` is an int, and ``int / int`` a float)."""

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if isinstance(node.value, int) and not isinstance(node.value, bool):
            return self._exact(node)
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        return self._exact(node) if isinstance(node.op, ast.FloorDiv) else node

    @staticmethod
    def _exact(node: ast.expr) -> ast.AST:
        return ast.copy_location(ast.Call(ast.Name("Fraction", ast.Load()), [node], []), node)


def python_value(expression: str) -> Any:
    tree = ast.fix_missing_locations(_ExactLiterals().visit(ast.parse(expression, mode="eval")))
    return eval(compile(tree, "<oracle>", "eval"), {"Fraction": Fraction, "__builtins__": {}})  # noqa: S307


numbers = st.one_of(st.integers(0, 1000), st.integers(0, 10**30)).map(str)


@st.composite
def arithmetic(draw: st.DrawFn, depth: int = 4) -> str:
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(numbers)
    kind = draw(st.sampled_from(["binary", "binary", "binary", "negate", "power"]))
    if kind == "negate":
        return f"-({draw(arithmetic(depth - 1))})"
    if kind == "power":
        exponent = draw(st.sampled_from(["0", "1", "2", "3", "(-1)", "(-2)"]))
        return f"({draw(arithmetic(depth - 1))}) ** {exponent}"
    operator = draw(st.sampled_from(["+", "-", "*", "/", "//", "%"]))
    return f"({draw(arithmetic(depth - 1))}) {operator} ({draw(arithmetic(depth - 1))})"


@settings(max_examples=300, deadline=None)
@given(arithmetic(), st.sampled_from(["", " < 7", " == 0", " >= -3/2"]))
@example("(0) + ((((0) // (1)) / ((1) // (1))) + ((3) ** (-1)))", "")
def test_arithmetic_matches_python_exactly(expression: str, comparison: str) -> None:
    expression += comparison
    try:
        expected = python_value(expression)
    except ZeroDivisionError:
        with pytest.raises(UsageError, match="division by zero"):
            evaluate(expression, registers=Registers())
        return
    assert parse_result(evaluate(expression, registers=Registers())) == expected


@settings(max_examples=200, deadline=None)
@given(st.integers(-(10**12), 10**12), st.integers(1, 10**6))
def test_exact_functions_match_sympy(numerator: int, denominator: int) -> None:
    x = sympy.Rational(numerator, denominator)
    text = f"{numerator}/{denominator}"
    assert parse_result(evaluate(f"floor({text})")) == sympy.floor(x)
    assert parse_result(evaluate(f"ceil({text})")) == sympy.ceiling(x)
    assert parse_result(evaluate(f"abs({text})")) == abs(x)
    assert parse_result(evaluate(f"sqrt(({text})**2)")) == abs(x)
    if 0 <= numerator <= 300:
        assert parse_result(evaluate(f"factorial({numerator})")) == sympy.factorial(numerator)


@settings(max_examples=200, deadline=None)
@given(st.floats(0.001, 1000, allow_nan=False), st.sampled_from(["sin", "cos", "tan", "exp", "log", "sqrt"]))
def test_float_functions_match_sympy(x: float, function: str) -> None:
    literal = repr(x)
    if function == "exp" and x > 700:
        return
    expected = float(getattr(sympy, function)(sympy.Rational(x)).evalf(30))
    assert math.isclose(float(evaluate(f"{function}({literal})")), expected, rel_tol=1e-12, abs_tol=1e-12)


@settings(max_examples=200, deadline=None)
@given(
    st.decimals("-1e6", "1e6", places=4, allow_nan=False),
    st.decimals("-1e6", "1e6", places=4, allow_nan=False),
)
def test_decimal_literals_are_exact(a: Any, b: Any) -> None:
    assert parse_result(evaluate(f"{a} + ({b})")) == Fraction(str(a)) + Fraction(str(b))


@pytest.mark.parametrize(
    ("expression", "result"),
    [
        ("2+2", "4"),
        ("1/3", "1/3"),
        ("1/3*3", "1"),
        ("0.1 + 0.2 == 0.3", "true"),
        ("10/4", "2.5"),
        ("-7/8", "-0.875"),
        ("2^10", "1024"),
        ("2**-2", "0.25"),
        ("17 % 5", "2"),
        ("7 // 2", "3"),
        ("1 < 2 < 3", "true"),
        ("sqrt(16)", "4"),
        ("sqrt(2/8)", "0.5"),
        ("8 ** (1/3)", "2"),
        ("(4/9) ** 0.5", "2/3"),
        ("log(1000, 10)", "3"),
        ("log2(1024)", "10"),
        ("log10(1e5)", "5"),
        ("round(2.675, 2)", "2.68"),
        ("round(2.5)", "2"),
        ("min(3, 1/2, 2)", "0.5"),
        ("max(1, 2/3)", "1"),
        ("factorial(25)", "15511210043330985984000000"),
        ("gcd(12, 18) + lcm(4, 6)", "18"),
        ("1e3", "1000"),
        ("2 if 3 > 2 else 4", "2"),
        ("pi", repr(math.pi)),
        ("sin(pi/2)", "1.0"),
    ],
)
def test_known_values(expression: str, result: str) -> None:
    assert evaluate(expression) == result


def test_big_numbers_are_exact_and_print_in_full() -> None:
    assert evaluate("2 ** 100000 - 2 ** 100000 + 1") == "1"
    assert len(evaluate("2 ** 50000")) == 15052
    assert evaluate("2 ** 50000 // 2 ** 49990") == "1024"
    assert evaluate("3 ** 20000 % 1000007") == str(pow(3, 20000, 1000007))


def test_digits_round_a_fraction() -> None:
    assert evaluate("22/7", digits=3) == "3.143"
    assert evaluate("2/3", digits=0) == "1"
    assert evaluate("sqrt(2)", digits=4) == "1.4142"


def test_registers_are_read_run_first_then_global() -> None:
    registers = Registers()
    registers.set("price", 10)
    registers.set("price", "2.5", run="r")
    registers.set("share", "1/3")
    registers.set("note", Artifact.text(" 4 "))
    assert evaluate("$price * 1.2", registers=registers) == "12"
    assert evaluate("$price * 2", registers=registers, run="r") == "5"
    assert evaluate("$share * 3 + $note", registers=registers) == "5"


def test_register_errors_point_at_the_register() -> None:
    registers = Registers()
    registers.set("name", "Ada")
    with pytest.raises(UsageError) as missing:
        evaluate("1 + $price", registers=registers)
    assert str(missing.value) == (
        "column 5: no register 'price' in global; registers there: name. Set it first\n  1 + $price\n      ^"
    )
    with pytest.raises(UsageError, match="register 'name' holds 'Ada', not a number"):
        evaluate("$name + 1", registers=registers)


def test_an_underscore_name_is_not_a_register() -> None:
    registers = Registers()
    registers.set("x", 1)
    with pytest.raises(UsageError, match="unknown name '_x'"):
        evaluate("_x + 1", registers=registers)


@pytest.mark.parametrize(
    ("expression", "message", "column"),
    [
        ("1 + (2 - 2) / (3 - 3)", "division by zero", 13),
        ("1 +* 2", "syntax error", 4),
        ("(1).real", "attribute access (.) is not allowed", 1),
        ("[1, 2][0]", "indexing ([]) is not allowed", 1),
        ("__import__('os')", "unknown function '__import__'", 1),
        ("open('x')", "unknown function 'open'", 1),
        ("sqrtt(2)", "unknown function 'sqrtt'; did you mean sqrt", 1),
        ("2 * x", "unknown name 'x'", 5),
        ("'a' * 3", "'a' is not a number", 1),
        ("lambda: 1", "lambda is not allowed", 1),
        ("[x for x in (1, 2)]", "listcomp syntax is not allowed", 1),
        ("1 << 3", "this operator is not allowed", 3),
        ("1 in 2", "this operator is not allowed", 1),
        ("(1, 2)", "tuple syntax is not allowed", 1),
        ("round(2.5, ndigits=1)", "keyword arguments are not allowed", 1),
        ("sqrt(-1)", "no real value", 1),
        ("(-8) ** (1/3)", "no real value", 6),
        ("log(0)", "log needs x > 0", 1),
        ("factorial(2.5)", "factorial needs a whole number", 1),
        ("factorial(100000)", "too large; the limit is factorial(10000)", 1),
        ("9 ** 9 ** 9", "exponent 387420489 is too large", 3),
        ("10 ** 100000", f"the result would pass {MAX_RESULT_BITS} bits", 4),
        ("1e999999", "too large or too small a number", 1),
        ("exp(1000)", "number too large for a float", 1),
        ("sqrt", "sqrt is a function", 1),
        ("1; 2", "syntax error", 2),
    ],
)
def test_bad_input_gets_an_error_that_points_at_the_position(
    expression: str, message: str, column: int
) -> None:
    with pytest.raises(UsageError) as error:
        evaluate(expression)
    text = str(error.value)
    assert message in text
    first, shown, caret = text.split("\n")
    assert first.startswith(f"column {column}: ")
    assert shown == f"  {expression}"
    assert caret == "  " + " " * (column - 1) + "^"


def test_the_time_limit_stops_a_long_expression(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config, "MATH_TIMEOUT_S", 0.05)
    with pytest.raises(UsageError, match=r"took longer than 0.05 s") as error:
        evaluate(" + ".join(["factorial(10000) % 7"] * 240))
    assert "…" in str(error.value)


def test_long_chains_evaluate_without_recursion() -> None:
    assert evaluate("+".join(["1"] * (MAX_OPERATORS + 1))) == str(MAX_OPERATORS + 1)
    assert evaluate("*".join(["2"] * (MAX_OPERATORS + 1))) == str(2 ** (MAX_OPERATORS + 1))


def test_limits_on_length_operators_and_nesting() -> None:
    with pytest.raises(UsageError, match="the limit is 10000"):
        evaluate("1+" * 6000 + "1")
    with pytest.raises(UsageError, match=f"expression has 2000 operators; the limit is {MAX_OPERATORS}"):
        evaluate("+".join(["1"] * 2001))
    with pytest.raises(UsageError, match="operators; the limit"):
        evaluate("-" * 5000 + "1")
    with pytest.raises(UsageError, match="too many nested parentheses"):
        evaluate("(" * 1000 + "1" + ")" * 1000)
    with pytest.raises(UsageError, match="empty expression"):
        evaluate("  ")


def test_the_unit_replies_with_text_in_the_run_and_errors_as_artifacts() -> None:
    registers = Registers()
    registers.set("price", 10, run="r")
    tool = MathTool(registers=registers)
    request = Artifact.text("$price * 1.2", attributes={"run": "r"})
    reply = asyncio.run(tool.handle(None, None, request))
    assert (reply.as_text(), reply.attr("run"), reply.parents) == ("12", "r", (request.id,))
    rounded = asyncio.run(tool.handle(None, None, Artifact.json({"expression": "1/3", "digits": 2})))
    assert rounded.as_text() == "0.33"
    wrong = asyncio.run(tool.handle(None, None, Artifact.json({"expression": ["1 + 1"]})))
    assert wrong.error_message == "the expression must be text, not list"
    failed = asyncio.run(tool.handle(None, None, Artifact.text("1/0")))
    assert failed.is_error and failed.error_message.startswith("column 2: division by zero")


def smol(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smolcpu", *args], capture_output=True, text=True, timeout=60
    )


def test_smol_tool_math() -> None:
    result = smol("tool", "math", "$price * 1.2", "--set", "price=10")
    assert (result.returncode, result.stdout.strip()) == (0, "12"), result.stderr
    failed = smol("tool", "math", "2 * (1/0)")
    assert failed.returncode == 2
    assert "column 7: division by zero" in failed.stderr and "^" in failed.stderr
    assert "Traceback" not in failed.stderr
    assert "--set" in CliRunner().invoke(app, ["tool", "math", "--help"]).stdout


@pytest.mark.timeout(60)
def test_long_decimal_expansions_print_in_full_within_the_deadline() -> None:
    """The review's findings: formatting took minutes (1/5**30000) or crashed on Python's
    4300-digit limit (1/2**15000)."""
    twos = evaluate("1/2**15000")
    assert len(twos) == 15002 and twos.startswith("0.000") and twos.endswith("5")
    assert Fraction(decimal.Decimal(twos)) == Fraction(1, 2**15000)
    fives = evaluate("1/5**30000")
    assert len(fives) == 30002 and Fraction(decimal.Decimal(fives)) == Fraction(1, 5**30000)
    assert evaluate("-1/3**20000").startswith("-1/" + str(decimal.Decimal(3**20000))[:20])


@pytest.mark.timeout(60)
def test_a_result_too_long_to_show_is_reported_with_its_approximate_value() -> None:
    with pytest.raises(UsageError, match=r"about 66001 digits, more than the \d+ this tool shows; it is about 9\.54363"):
        evaluate("1/5**66000")
    assert evaluate("1/5**66000", digits=5) == "0"
    with pytest.raises(UsageError, match=r"it is about -9\.54363"):
        evaluate("-1/5**66000")


@pytest.mark.timeout(60)
def test_registers_are_read_under_the_same_limits_as_literals() -> None:
    registers = Registers()
    registers.set("huge", "1e9999999")
    registers.set("tiny", "1e-9999999/3")
    registers.set("long", "7" * 9000)
    registers.set("shown", evaluate("1/5**30000"))
    with pytest.raises(UsageError, match="register 'huge' holds a number beyond the limits"):
        evaluate("$huge + 1", registers=registers)
    with pytest.raises(UsageError, match="register 'tiny' holds a number beyond the limits"):
        evaluate("$tiny", registers=registers)
    assert evaluate("$long % 10", registers=registers) == "7"
    assert evaluate("$shown * 5**30000", registers=registers) == "1"
