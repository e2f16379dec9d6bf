"""The math tool: evaluate one arithmetic expression, exactly where it can, safely always.

Built on simpleeval (a maintained, AST-walking evaluator) with a narrower language:
numbers, ``+ - * / // % **`` (``^`` is also a power, as people write it), comparisons,
``and``/``or``/``not``, ``a if c else b``, the functions in :data:`FUNCTIONS` and the
constants ``pi``, ``e``, ``tau``. ``$name`` reads register ``name`` (the run's, then the
global one). There is no attribute access, indexing, text, keyword argument or any name
beyond those: the evaluator refuses every other kind of node.

Arithmetic is exact: integers have no size limit but :data:`MAX_RESULT_BITS`, ``/`` makes a
fraction (``1/3*3`` is ``1``), decimal literals are read as the decimals they spell
(``0.1 + 0.2 == 0.3``), and exact square roots and integer logarithms stay exact. Only the
transcendental functions and ``pi``/``e`` bring floats in. A result prints as an integer,
an exact decimal, a fraction ``p/q`` (or, given ``digits``, rounded to that many places),
``true``/``false``, or a float. Every error names the column and shows a caret.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import decimal
import difflib
import math
import operator
import re
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import Any

from simpleeval import InvalidExpression, SimpleEval

from smolcpu import config
from smolcpu.artifact import JSON, TEXT, Artifact
from smolcpu.errors import UsageError
from smolcpu.units._glue import expression_from, question_of
from smolcpu.units._registry import register
from smolcpu.units._tool import Tool
from smolcpu.units.tools._registers import Registers, shared_registers

Number = int | Fraction | float

MAX_EXPRESSION_LENGTH = 10_000
"""Longest expression accepted, in characters."""

MAX_OPERATORS = 500
"""Most operator symbols (and commas) in one expression: it keeps the parse tree shallow,
below the depth at which Python's own parser gives up."""

MAX_RESULT_BITS = 200_000
"""Largest exact number any step may make (about 60,000 decimal digits)."""

MAX_FACTORIAL = 10_000
"""Largest ``n`` of ``factorial(n)``."""

MAX_DIGITS = 1000
"""Most decimal places a result may be rounded to."""

MAX_SHOWN_DIGITS = math.ceil(MAX_RESULT_BITS * math.log10(2)) + 1
"""Most digits a result is shown with: every integer under :data:`MAX_RESULT_BITS` fits. A
longer one (a fraction such as ``1/5**66000``, whose decimal expansion is longer than its
numbers) is reported as too long to show, with its approximate value."""

APPROXIMATE_DIGITS = 17
"""Significant digits of the approximate value given for a result too long to show."""

MAX_ROOT_DEGREE = 64
"""Highest ``q`` for which ``x ** (p/q)`` is tried as an exact root."""

_WINDOW = 72
_REGISTER = re.compile(r"\$(?=[A-Za-z_])")
_OPERATOR = re.compile(r"[-+*/%^<>=!,]|\b(?:and|or|not|if)\b")
_CONSTANTS: dict[str, Number] = {"pi": math.pi, "e": math.e, "tau": math.tau}
_NODES = (
    ast.Expression,
    ast.Constant,
    ast.Name,
    ast.UnaryOp,
    ast.BinOp,
    ast.BoolOp,
    ast.Compare,
    ast.IfExp,
    ast.Call,
)


class _Limit(Exception):
    """A step would pass one of the limits above."""


class _Located(Exception):
    """An evaluation error tied to the node where it happened."""

    def __init__(self, node: ast.AST, message: str) -> None:
        super().__init__(message)
        self.node = node
        self.message = message


def _exact(value: Any) -> Any:
    """Fractions that are whole become ints, so they print and index as integers."""
    if isinstance(value, Fraction) and value.denominator == 1:
        return value.numerator
    return value


def _is_exact(value: Any) -> bool:
    return isinstance(value, int | Fraction) and not isinstance(value, bool)


def _bits(value: Any) -> int:
    if isinstance(value, Fraction):
        return value.numerator.bit_length() + value.denominator.bit_length()
    return value.bit_length() if isinstance(value, int) else 0


def _check_size(value: Any) -> Any:
    if _bits(value) > MAX_RESULT_BITS:
        raise _Limit(
            f"number too large: over {MAX_RESULT_BITS} bits (about {MAX_RESULT_BITS * 3 // 10} digits)"
        )
    return value


def _divide(left: Number, right: Number) -> Number:
    if _is_exact(left) and _is_exact(right):
        return _exact(Fraction(left) / Fraction(right))
    return left / right


def _root(value: int, degree: int) -> int | None:
    """The exact integer ``degree``-th root of ``value`` >= 0, or None."""
    guess = math.isqrt(value) if degree == 2 else round(value ** (1 / degree))
    return next((r for r in (guess - 1, guess, guess + 1) if r >= 0 and r**degree == value), None)


def _power(base: Number, exponent: Number) -> Number:
    """``base ** exponent``: exact for a whole exponent or an exact root, else a float.

    A whole-number base too large to raise exactly is an error (big integers are the point);
    a fraction, as in compound interest, falls back to a float instead.
    """
    exponent = _exact(exponent)
    if _is_exact(base) and isinstance(exponent, int):
        if abs(base) in (0, 1) or _bits(base) * abs(exponent) <= MAX_RESULT_BITS:
            return _exact(Fraction(base) ** exponent)
        if isinstance(base, int):
            raise _Limit(f"exponent {exponent} is too large: the result would pass {MAX_RESULT_BITS} bits")
    if (
        _is_exact(base)
        and isinstance(exponent, Fraction)
        and base >= 0
        and exponent.denominator <= MAX_ROOT_DEGREE
    ):
        base = Fraction(base)
        try:
            numerator = _root(base.numerator, exponent.denominator)
            denominator = _root(base.denominator, exponent.denominator)
        except OverflowError:
            numerator = denominator = None
        if numerator is not None and denominator is not None:
            return _power(Fraction(numerator, denominator), exponent.numerator)
    if base < 0 and not float(exponent).is_integer():
        raise ValueError("a negative number to a fractional power has no real value")
    return float(base) ** float(exponent)


def _sqrt(x: Number) -> Number:
    if x < 0:
        raise ValueError("sqrt of a negative number has no real value")
    return _power(x, Fraction(1, 2))


def _log(x: Number, base: Number | None = None) -> Number:
    if x <= 0 or (base is not None and (base <= 0 or base == 1)):
        raise ValueError("log needs x > 0 and a base > 0 other than 1")
    if base is None:
        return math.log(x)
    if isinstance(x, int) and isinstance(base, int) and not isinstance(x, bool):
        guess = round(math.log(x, base))
        if base**guess == x:
            return guess
    return math.log(x, base)


def _factorial(n: Number) -> int:
    n = _exact(n)
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"factorial needs a whole number >= 0, not {_format(n)}")
    if n > MAX_FACTORIAL:
        raise _Limit(f"factorial({n}) is too large; the limit is factorial({MAX_FACTORIAL})")
    return math.factorial(n)


def _round(x: Number, digits: Number | None = None) -> Number:
    if digits is None:
        return round(x)
    if not isinstance(digits, int) or abs(digits) > MAX_DIGITS:
        raise ValueError(f"round's digits must be a whole number from -{MAX_DIGITS} to {MAX_DIGITS}")
    return _exact(round(x, digits))


def _float_function(function: Callable[[float], float]) -> Callable[[Number], float]:
    def call(x: Number) -> float:
        return function(float(x))

    return call


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "sqrt": _sqrt,
    "log": _log,
    "ln": _log,
    "log10": lambda x: _log(x, 10),
    "log2": lambda x: _log(x, 2),
    "exp": _float_function(math.exp),
    "sin": _float_function(math.sin),
    "cos": _float_function(math.cos),
    "tan": _float_function(math.tan),
    "asin": _float_function(math.asin),
    "acos": _float_function(math.acos),
    "atan": _float_function(math.atan),
    "floor": math.floor,
    "ceil": math.ceil,
    "round": _round,
    "abs": abs,
    "min": min,
    "max": max,
    "factorial": _factorial,
    "gcd": math.gcd,
    "lcm": math.lcm,
}
"""The functions an expression may call; ``round`` rounds half to even, as Python does."""

_OPERATORS: dict[type, Callable[..., Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: _divide,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: _power,
    ast.BitXor: _power,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
    ast.Not: operator.not_,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}


class _Evaluator(SimpleEval):
    """simpleeval narrowed to numbers, with exact literals, registers, a deadline and positions."""

    def __init__(self, expression: str, resolve: Callable[[str], Number], deadline: float) -> None:
        super().__init__(operators=_OPERATORS, functions=FUNCTIONS, names={})
        self.nodes = {kind: handler for kind, handler in self.nodes.items() if kind in _NODES}
        self.expression = expression
        self.expr = _REGISTER.sub("_", expression)
        self.resolve = resolve
        self.deadline = deadline

    def _eval(self, node: ast.AST) -> Any:
        if time.monotonic() > self.deadline:
            raise _Located(node, f"took longer than {config.MATH_TIMEOUT_S:g} s; simplify the expression")
        with _located(node):
            result = super()._eval(node)
            return _check_size(_exact(result)) if isinstance(node, ast.Call) else result

    def _eval_binop(self, node: ast.BinOp) -> Number:
        """Walk a left-leaning chain (``1 + 2 + ... + 500``) in a loop, not by recursion."""
        chain = []
        while isinstance(node, ast.BinOp):
            chain.append(node)
            node = node.left
        value = self._eval(node)
        for link in reversed(chain):
            right = self._eval(link.right)
            with _located(link):
                value = _check_size(_exact(self.operators[type(link.op)](value, right)))
        return value

    def _eval_constant(self, node: ast.Constant) -> Number:
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise _Located(node, f"{node.value!r} is not a number; only numbers are allowed")
        if isinstance(node.value, int):
            return _check_size(node.value)
        return _parse_number(ast.get_source_segment(self.expr, node) or repr(node.value))

    def _eval_name(self, node: ast.Name) -> Number:
        start = _column(self.expr, node.col_offset)
        if node.id.startswith("_") and self.expression[start] == "$":
            try:
                return self.resolve(node.id[1:])
            except UsageError as exc:
                raise _Located(node, str(exc)) from None
        if node.id in _CONSTANTS:
            return _CONSTANTS[node.id]
        if node.id in FUNCTIONS:
            raise _Located(node, f"{node.id} is a function: call it, as in {node.id}(2)")
        close = difflib.get_close_matches(node.id, [*_CONSTANTS, *FUNCTIONS], n=3)
        hint = f"did you mean {', '.join(close)}?" if close else "write a register as $name"
        raise _Located(node, f"unknown name {node.id!r}; {hint}")

    def _eval_call(self, node: ast.Call) -> Any:
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            name = node.func.id if isinstance(node.func, ast.Name) else None
            close = difflib.get_close_matches(name or "", FUNCTIONS, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else f"; there are {', '.join(FUNCTIONS)}"
            raise _Located(node, f"unknown function {name or _describe(node.func)!r}{hint}")
        if node.keywords:
            raise _Located(node, "keyword arguments are not allowed; pass arguments by position")
        return super()._eval_call(node)


def _parse_number(literal: str) -> Number:
    """The exact value of a decimal or fraction text (``2.5``, ``1e-3``, ``1/3``), refused
    before it is built when it would pass the size limits: the one way text becomes a
    number, for literals in the expression and for registers alike. Any result this tool
    shows reads back (Python's own ``int`` refuses text past 4300 digits; Decimal does not).

    Raises:
        _Limit: the number would be too large or too precise.
        ValueError, ArithmeticError: the text is not a number.
    """
    text = literal.strip().replace("_", "").lower()
    if len(text) > 2 * MAX_SHOWN_DIGITS + 1:
        raise _Limit(f"a number written with {len(text)} characters is too long")
    parts = text.split("/")
    if len(parts) > 2:
        raise ValueError(f"{_shortened(text)} is not a number")
    for part in parts:
        exponent = part.partition("e")[2]
        if exponent and (not exponent.lstrip("+-").isdigit() or abs(int(exponent)) > MAX_RESULT_BITS // 3):
            raise _Limit(f"{_shortened(text)} is too large or too small a number")
    numerator, *denominator = (Fraction(decimal.Decimal(part)) for part in parts)
    return _check_size(_exact(numerator / denominator[0] if denominator else numerator))


def _shortened(text: str) -> str:
    return text if len(text) <= _WINDOW else text[: _WINDOW // 2] + "…" + text[-_WINDOW // 2 :]


@contextlib.contextmanager
def _located(node: ast.AST) -> Iterator[None]:
    """Tie what fails inside to ``node``, in words a person understands."""
    try:
        yield
    except _Located:
        raise
    except _Limit as exc:
        raise _Located(node, str(exc)) from None
    except (InvalidExpression, KeyError):
        raise _Located(node, f"{_describe(node)} is not allowed in a math expression") from None
    except ZeroDivisionError:
        raise _Located(node, "division by zero") from None
    except OverflowError:
        raise _Located(node, "number too large for a float") from None
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise _Located(node, str(exc) or type(exc).__name__) from None


def _describe(node: ast.AST) -> str:
    if isinstance(node, ast.BinOp | ast.UnaryOp | ast.Compare):
        return "this operator"
    known = {ast.Attribute: "attribute access (.)", ast.Subscript: "indexing ([])", ast.Lambda: "lambda"}
    return known.get(type(node), f"{type(node).__name__.lower()} syntax")


def _column(source: str, byte_offset: int) -> int:
    """The character index of a UTF-8 byte offset (ast positions count bytes)."""
    return len(source.encode("utf-8")[:byte_offset].decode("utf-8", errors="ignore"))


def _position(source: str, node: ast.AST) -> int:
    """Where to point for ``node``: a binary operator's symbol, otherwise the node's start."""
    if isinstance(node, ast.BinOp) and node.left.end_col_offset is not None:
        index = _column(source, node.left.end_col_offset)
        while index < len(source) and source[index] in " )":
            index += 1
        return index
    return _column(source, getattr(node, "col_offset", 0))


def _pointed(expression: str, index: int, message: str) -> str:
    """The message, then the expression (a window of it, if long) with a caret under ``index``."""
    start = max(0, min(index - _WINDOW // 2, len(expression) - _WINDOW))
    end = start + _WINDOW
    shown = ("…" if start else "") + expression[start:end] + ("…" if end < len(expression) else "")
    caret = index - start + (1 if start else 0)
    return f"column {index + 1}: {message}\n  {shown}\n  {' ' * caret}^"


def _number(name: str, value: Any) -> Number:
    """A register's value as a number: JSON numbers, numeric text ('2.5', '1/3'), or an artifact of one."""
    if isinstance(value, Artifact):
        value = value.as_json() if value.type == JSON else value.as_text()
        return _number(name, value)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise UsageError(f"register {name!r} holds {type(value).__name__} {value!r}, not a number")
    try:
        if isinstance(value, int):
            return _check_size(value)
        return _parse_number(repr(value) if isinstance(value, float) else value)
    except _Limit as exc:
        raise UsageError(f"register {name!r} holds a number beyond the limits: {exc}") from None
    except (ValueError, ArithmeticError):
        raise UsageError(f"register {name!r} holds {_shortened(str(value))!r}, not a number") from None


def _format(value: Any, digits: int | None = None) -> str:
    """A result as text: integer, exact decimal, fraction p/q, true/false or float.

    Its length is worked out from the numbers' sizes before any digit is written, so a
    result too long to show is reported (with its approximate value) at no cost.

    Raises:
        UsageError: the result is not finite, or longer than :data:`MAX_SHOWN_DIGITS`.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise UsageError("the result is not a finite number: it is too large for a float")
        return repr(round(value, digits) if digits is not None else value)
    if digits is not None:
        value = _exact(round(Fraction(value), digits))
    if isinstance(value, int):
        _check_shown(value, _digit_count(value))
        return _digits(value)
    numerator, denominator = value.numerator, value.denominator
    twos = (denominator & -denominator).bit_length() - 1
    odd = denominator >> twos
    fives = round((odd.bit_length() - 1) / math.log2(5)) if odd > 1 else 0
    if odd != 5**fives:
        _check_shown(value, _digit_count(numerator) + _digit_count(denominator))
        return f"{_digits(numerator)}/{_digits(denominator)}"
    places = max(twos, fives)
    _check_shown(value, _digit_count(abs(numerator) // denominator) + places)
    scaled = _digits(abs(numerator) * 10**places // denominator).rjust(places + 1, "0")
    return f"{'-' if value < 0 else ''}{scaled[:-places]}.{scaled[-places:]}"


def _digit_count(number: int) -> int:
    """How many decimal digits ``number`` has, give or take one, from its size alone."""
    return int(abs(number).bit_length() * math.log10(2)) + 1


def _digits(number: int) -> str:
    """``str(number)`` for any number under the size limit (Python's own refuses past 4300 digits)."""
    return str(decimal.Decimal(number))


def _check_shown(value: int | Fraction, length: int) -> None:
    if length > MAX_SHOWN_DIGITS:
        raise UsageError(
            f"the exact result has about {length} digits, more than the {MAX_SHOWN_DIGITS} this tool"
            f" shows; it is about {_approximate(value)}. Give digits= to round it, or split the work"
        )


def _approximate(value: int | Fraction) -> str:
    """``value`` in scientific notation to :data:`APPROXIMATE_DIGITS` digits (truncated), by
    integer arithmetic, which no exponent can overflow."""
    numerator, denominator = abs(Fraction(value)).as_integer_ratio()
    shift = APPROXIMATE_DIGITS - int((numerator.bit_length() - denominator.bit_length()) * math.log10(2))
    if shift >= 0:
        mantissa = str(numerator * 10**shift // denominator)
    else:
        mantissa = str(numerator // (denominator * 10**-shift))
    exponent = len(mantissa) - 1 - shift
    fraction = mantissa[1:APPROXIMATE_DIGITS].rstrip("0") or "0"
    return f"{'-' if value < 0 else ''}{mantissa[0]}.{fraction}e{exponent:+d}"


def evaluate(
    expression: str, *, registers: Registers | None = None, run: str | None = None, digits: int | None = None
) -> str:
    """Evaluate ``expression`` and return its value as text (see the module docstring).

    Args:
        expression: the expression; ``$name`` reads a register.
        registers: where ``$name`` is looked up; this process's registers by default.
        run: the run whose registers come before the global ones.
        digits: round a non-integer result to this many decimal places.

    Raises:
        UsageError: the expression does not parse, uses what is not allowed, fails (division
            by zero, a domain error), reads a missing register or passes a limit; the message
            names the column and shows a caret.
    """
    if not isinstance(expression, str):
        raise UsageError(f"the expression must be text, not {type(expression).__name__}")
    expression = expression.strip().translate({ord("\n"): " ", ord("\r"): " ", ord("\t"): " "})
    if not expression:
        raise UsageError("empty expression; write one such as 2 + 2")
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise UsageError(
            f"expression is {len(expression)} characters long; the limit is {MAX_EXPRESSION_LENGTH}"
        )
    operators = len(_OPERATOR.findall(expression))
    if operators > MAX_OPERATORS:
        raise UsageError(
            f"expression has {operators} operators; the limit is {MAX_OPERATORS}: split it into steps"
            " and keep partial results in registers"
        )
    if digits is not None and (not isinstance(digits, int) or not 0 <= digits <= MAX_DIGITS):
        raise UsageError(f"digits must be from 0 to {MAX_DIGITS}, not {digits}")
    store = registers if registers is not None else shared_registers()
    evaluator = _Evaluator(
        expression,
        lambda name: _number(name, store.get(name, run=run)),
        time.monotonic() + config.MATH_TIMEOUT_S,
    )
    try:
        tree = ast.parse(evaluator.expr, mode="eval")
    except SyntaxError as exc:
        index = min(max((exc.offset or 1) - 1, 0), len(expression))
        raise UsageError(_pointed(expression, index, f"syntax error: {exc.msg}")) from None
    except (RecursionError, MemoryError):
        raise UsageError("expression is nested too deeply; split it into steps") from None
    try:
        value = evaluator.eval(evaluator.expr, previously_parsed=tree.body)
    except _Located as exc:
        raise UsageError(_pointed(expression, _position(evaluator.expr, exc.node), exc.message)) from None
    except RecursionError:
        raise UsageError("expression is nested too deeply; split it into steps") from None
    if time.monotonic() > evaluator.deadline:
        raise UsageError(f"took longer than {config.MATH_TIMEOUT_S:g} s; simplify the expression")
    return _format(value, digits)


@register
class MathTool(Tool):
    """Evaluate arithmetic, exactly where possible, with ``$name`` read from the registers."""

    name = "math"
    description = (
        "Evaluate a math expression: + - * / // % ** (or ^), comparisons, sqrt log exp sin cos tan"
        " floor ceil round min max abs factorial, pi and e; $name reads register name."
    )
    inputs = {
        "expression": {"type": "string", "description": "the expression, e.g. '$price * 1.2'"},
        "digits": {
            "type": "integer",
            "description": "round a non-integer result to this many decimal places",
            "nullable": True,
        },
    }
    output = TEXT

    def __init__(self, *, registers: Registers | None = None) -> None:
        self.registers = registers if registers is not None else shared_registers()

    def reads(self, artifact: Artifact) -> str:
        return expression_from(question_of(artifact))

    def invoke(self, artifact: Artifact, arguments: dict[str, Any]) -> Any:
        return self.forward(**arguments, run=artifact.attr("run"))

    async def forward(self, expression: str, digits: int | None = None, run: str | None = None) -> str:
        """Evaluate in a thread, so a long expression never stalls the other units."""
        return await asyncio.to_thread(evaluate, expression, registers=self.registers, run=run, digits=digits)


__all__ = [
    "FUNCTIONS",
    "MAX_EXPRESSION_LENGTH",
    "MAX_FACTORIAL",
    "MAX_OPERATORS",
    "MAX_RESULT_BITS",
    "MAX_SHOWN_DIGITS",
    "MathTool",
    "evaluate",
]
