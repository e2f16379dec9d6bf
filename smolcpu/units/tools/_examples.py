"""The ``examples`` tool: the examples a request's docstring gives, as checks to run.

A request that leaves a function to write ("complete this function") usually shows how it
behaves in its docstring: ``>>> add(2, 3)`` and ``5`` on the next line, ``add(2, 3) ➞ 5``,
``For lst = [1, 2] the output should be 3``. Those examples are the asker's own tests, and
they are right where a small model's own asserts often are not; turned into Python by a
tool, they cost the model no tokens. Run after the model's code in the sandbox, a failing
one is a failed step whose message says which call returned what, so the model can repair.
"""

from __future__ import annotations

import ast
import doctest
import re
from typing import Any, ClassVar

from smolcpu.artifact import TEXT, Artifact
from smolcpu.units._glue import question_of, stubs_in
from smolcpu.units._registry import register
from smolcpu.units._tool import Tool

MAX_EXAMPLES = 12
"""Checks written for one request, at most: the first ones the docstring gives."""

NO_EXAMPLES = "# the request gives no examples to check\n"

_SEPARATOR = re.compile(r"\s*(?:==>|➞|→|=>|->|==|\bshould (?:return|be)\b|\breturns?\b)\s*")
_FOR_FORM = re.compile(r"For\s+(\w+)\s*=\s*(.+?),?\s+the output should be\s+(.+?)\.?\s*$", re.I)

HELPER = '''

# The request's own examples, checked (written by the `examples` tool)
def _smol_example(call, got, want):
    same = got == want or (
        isinstance(got, float) and isinstance(want, int | float) and abs(got - want) <= 1e-6 * max(1.0, abs(want))
    )
    assert same, f"{call} returned {got!r}, but the request's example says {want!r}"

'''


def example_checks(question: str) -> list[tuple[str, str]]:
    """The examples of the first function left to write in ``question``, as (call, expected)
    Python sources: only those whose call is Python calling the function and whose expected
    value is a Python literal, in the order the docstring gives them, without repeats."""
    stubs = stubs_in(question)
    if not stubs:
        return []
    function = stubs[0]
    docstring = ast.get_docstring(function) or ""
    parameters = [a.arg for a in (*function.args.posonlyargs, *function.args.args)]
    found = [*_doctests(docstring, function.name), *_written(docstring, function.name, parameters)]
    return list(dict.fromkeys(found))[:MAX_EXAMPLES]


def checks_program(question: str) -> str:
    """Python that checks the examples of ``question``, to run after the code that defines
    the function; a comment alone when the question gives none."""
    examples = example_checks(question)
    if not examples:
        return NO_EXAMPLES
    lines = [f"_smol_example({call!r}, {call}, {want})" for call, want in examples]
    return HELPER + "\n".join(lines) + "\n"


def _doctests(docstring: str, name: str) -> list[tuple[str, str]]:
    try:
        parsed = doctest.DocTestParser().get_examples(docstring)
    except ValueError:  # inconsistent indentation in the docstring
        return []
    found = []
    for example in parsed:
        call, want = _expression(example.source), example.want.strip()
        if call is not None and _calls(call, name) and not _calls(call, "print") and _expected(want):
            found.append((call, want))
    return found


def _written(docstring: str, name: str, parameters: list[str]) -> list[tuple[str, str]]:
    """Examples written in prose: ``f(x) ➞ y`` (or ``==>``, ``→``, ``=>``, ``->``, ``==``,
    ``should return``, ``returns``; never a bare ``=``, which also writes a definition), and
    ``For x = ... the output should be y`` for a function of one argument."""
    found = []
    for line in docstring.splitlines():
        if line.lstrip().startswith(">>>"):
            continue
        form = _FOR_FORM.search(line)
        argument = _expression(form[2]) if form and _literal(form[2]) else None
        if form and argument is not None and len(parameters) == 1 and _expected(form[3]):
            found.append((f"{name}({argument})", form[3].strip()))
            continue
        start = line.find(f"{name}(")
        if start < 0:
            continue
        text = line[start:]
        for separator in _SEPARATOR.finditer(text):
            call, written = _expression(text[: separator.start()]), text[separator.end() :].strip().rstrip(".,;")
            want = _expression(written) if _expected(written) else None
            if call is not None and want is not None and _literal_call(call, name):
                found.append((call, want))
                break
    return found


def _expression(source: str) -> str | None:
    """``source`` as one Python expression without its comments, or None when it is not one."""
    try:
        return ast.unparse(ast.parse(source.strip(), mode="eval"))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _calls(expression: str, name: str) -> bool:
    """Whether the expression calls ``name`` somewhere (``round(f(2), 2)`` does)."""
    return any(_is_call(node, name) for node in ast.walk(ast.parse(expression, mode="eval")))


def _literal_call(expression: str, name: str) -> bool:
    """Whether the expression is a call of ``name`` on literals only, as prose writes an example
    (``f(1) = 3`` in a recurrence's definition has no literal to expect; ``f(a)`` names a variable)."""
    node = ast.parse(expression, mode="eval").body
    return _is_call(node, name) and all(_literal(ast.unparse(a)) for a in [*node.args, *(k.value for k in node.keywords)])


def _is_call(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name


def _expected(source: str) -> bool:
    """Whether ``source`` is a value an example can expect: a literal, and not one in
    parentheses that Python reads as no tuple (``("Venus")`` is a string, but its writer
    meant a tuple of one: which, the example does not say)."""
    if not _literal(source):
        return False
    text = source.strip()
    return not (text.startswith("(") and text.endswith(")") and not isinstance(ast.literal_eval(text), tuple))


def _literal(source: str) -> bool:
    try:
        ast.literal_eval(source.strip())
    except (SyntaxError, ValueError, TypeError, RecursionError, MemoryError):
        return False
    return True


@register
class ExamplesTool(Tool):
    """The examples in a request's docstring, as Python checks to run after the code."""

    name: ClassVar[str] = "examples"
    description: ClassVar[str] = (
        "The examples a request's function stub gives in its docstring (doctest `>>> call` lines,"
        " `call ➞ result`, `call == result`, `For x = ... the output should be ...`), as Python that"
        " checks them; run it after the code that defines the function. A comment alone when there are none."
    )
    inputs: ClassVar[dict[str, dict[str, Any]]] = {
        "request": {"type": "string", "description": "the request: Python with a function left to write"},
    }
    output: ClassVar[str] = TEXT
    deterministic = True

    def reads(self, artifact: Artifact) -> str:
        return question_of(artifact)

    def forward(self, request: str) -> str:
        return checks_program(request)


__all__ = ["ExamplesTool", "checks_program", "example_checks"]
