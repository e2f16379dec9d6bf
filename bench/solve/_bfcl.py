"""BFCL simple_python: one function call per request, checked the way BFCL's AST checker checks it.

The answer is decoded as BFCL decodes a prompted model's output (a Python call list,
``[func(a=1, b="x")]``; keyword arguments only), or from a JSON tool call, or taken as the
calls an agent's tools recorded. The check follows BFCL's ``simple_function_checker`` for
Python: exactly one call; the function's name; every required parameter present; no
parameter the function or the possible answers lack; Python types (an int passes for a
float, a tuple for an array); each value among the possible answers, strings compared after
BFCL's normalisation (case, spaces and ``,./-_*^`` ignored, ``'`` as ``"``), lists and dicts
element by element; an optional parameter left out only where ``""`` is among its answers.
"""

from __future__ import annotations

import ast
import json
import operator
import re
from pathlib import Path
from typing import Any

from bench.solve._suite import SHARED_BENCH, Item, Verdict, fenced_blocks, read_jsonl

NAME = "bfcl"
DATA = SHARED_BENCH / "bfcl"
QUESTIONS = "BFCL_v4_simple_python.json"
ANSWERS = "BFCL_v4_simple_python.possible_answer.json"

SYSTEM = (
    "You are an expert in composing functions. You are given a question and a set of possible functions."
    " Based on the question, make the function call that achieves the purpose, with the parameter values"
    " the question gives. Reply with the call only, in the format [func_name(param_name1=value1,"
    " param_name2=value2)], and no other text.\n\nHere is the list of functions in JSON format:\n{functions}"
)
TASK = "Call the function below that does this, with the arguments the request gives. Reply with the call only, as [func_name(param=value, ...)]."

PYTHON_TYPES: dict[str, type] = {
    "string": str,
    "integer": int,
    "float": float,
    "boolean": bool,
    "array": list,
    "tuple": list,
    "dict": dict,
    "any": str,
}
"""BFCL's Python types of its parameter type names."""

Call = dict[str, dict[str, Any]]
"""One decoded call: ``{function name: {parameter: value}}``, as BFCL writes it."""

_ARITHMETIC = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}


def load(directory: Path = DATA) -> list[Item]:
    """The simple_python questions with their function documents and possible answers."""
    answers = {record["id"]: record["ground_truth"] for record in read_jsonl(directory / ANSWERS)}
    items = []
    for record in read_jsonl(directory / QUESTIONS):
        functions = record["function"]
        request = "\n".join(message["content"] for message in record["question"][0] if message["role"] == "user")
        listing = json.dumps(functions, indent=1)
        items.append(
            Item(
                suite=NAME,
                id=record["id"],
                task=f"{request}\n\n{TASK}\n{listing}",
                messages=[
                    {"role": "system", "content": SYSTEM.format(functions=listing)},
                    *record["question"][0],
                ],
                reference=answers[record["id"]],
                request=request,
                functions=functions,
            )
        )
    return items


JSON_TYPES = {"dict": "object", "float": "number", "tuple": "array", "any": "string"}
"""JSON Schema's name of each BFCL parameter type that is not already one (as BFCL's
function-calling handlers convert them)."""


def openai_tools(functions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """BFCL's function documents as OpenAI tool specifications, with JSON Schema types."""
    return [
        {"type": "function", "function": {**function, "parameters": _json_schema(function["parameters"])}}
        for function in functions
    ]


def _json_schema(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_json_schema(element) for element in schema]
    if not isinstance(schema, dict):
        return schema
    converted = {key: _json_schema(value) for key, value in schema.items()}
    if isinstance(schema.get("type"), str):
        converted["type"] = JSON_TYPES.get(schema["type"], schema["type"])
    return converted


def decode_calls(text: str) -> list[Call]:
    """The calls an answer makes: a Python call list or call (BFCL's prompt format), else a JSON
    tool call ``{"name": ..., "arguments": {...}}`` or a list of them; empty when there is none."""
    for candidate in [*fenced_blocks(text), text]:
        candidate = candidate.strip()
        calls = _json_calls(candidate) or _python_calls(candidate)
        if calls:
            return calls
    return []


def score(item: Item, reply: dict[str, Any]) -> Verdict:
    """Right when the calls (recorded by the system, else decoded from its answer) pass BFCL's check."""
    calls = reply.get("calls")
    if calls is None:
        calls = decode_calls(reply.get("output") or "")
    return check(item.functions, calls, item.reference)


def check(functions: list[dict[str, Any]], calls: list[Call], possible: list[Call]) -> Verdict:
    """BFCL's simple-function check of ``calls`` against one function and its possible answers."""
    if len(calls) != 1:
        return Verdict(False, f"wrong number of calls: {len(calls)}")
    description, call = functions[0], calls[0]
    name = description["name"]
    if name not in call:
        return Verdict(False, f"called {', '.join(call) or 'nothing'}, not {name}")
    arguments, answers = call[name], possible[0][name]
    properties = description["parameters"]["properties"]
    for param in description["parameters"].get("required", []):
        if param not in arguments:
            return Verdict(False, f"missing required parameter {param!r}")
    for param, value in arguments.items():
        if param not in properties or param not in answers:
            return Verdict(False, f"unexpected parameter {param!r}")
        problem = _check_value(param, value, properties[param], answers[param])
        if problem:
            return Verdict(False, problem)
    for param, values in answers.items():
        if param not in arguments and "" not in values:
            return Verdict(False, f"optional parameter {param!r} left out but required by the answer")
    return Verdict(True, "call matches")


def standardize(text: str) -> str:
    """BFCL's string normalisation: no spaces or ``,./-_*^``, lower case, ``'`` as ``"``."""
    return re.sub(r"[ ,./\-_*^]", "", text).lower().replace("'", '"')


def _check_value(param: str, value: Any, details: dict[str, Any], answers: list[Any]) -> str | None:
    """Why ``value`` fails for ``param`` (BFCL's type check, then its value check), or None."""
    kind = details["type"]
    expected = PYTHON_TYPES[kind]
    nested = PYTHON_TYPES[details["items"]["type"]] if kind in ("array", "tuple") else None
    if kind == "tuple" and isinstance(value, tuple):
        value = list(value)
    if kind == "float" and type(value) is int:
        value = float(value)
    typed = _type_check(value, answers, expected, nested)
    if typed is None:
        return f"wrong type for {param!r}: expected {kind}, got {type(value).__name__}"
    is_variable = typed
    if not is_variable:
        if expected is dict:
            return None if _dict_matches(value, answers) else f"wrong value for {param!r}: {value!r}"
        if expected is list and nested is dict:
            return None if _dict_list_matches(value, answers) else f"wrong value for {param!r}: {value!r}"
        if expected is str:
            normal = [standardize(answer) for answer in answers if isinstance(answer, str)]
            return None if standardize(value) in normal else f"wrong value for {param!r}: {value!r}, expected one of {answers}"
        if expected is list:
            return None if _list_matches(value, answers) else f"wrong value for {param!r}: {value!r}, expected one of {answers}"
    return None if value in answers else f"wrong value for {param!r}: {value!r}, expected one of {answers}"


def _answer_type(answers: list[Any]) -> type | None:
    """The type of the first possible answer that is not ``""`` (an optional parameter's mark)."""
    return next((type(answer) for answer in answers if answer != ""), None)


def _type_check(value: Any, answers: list[Any], expected: type, nested: type | None) -> bool | None:
    """None when the type is wrong; else whether the value stands for a variable (its type is
    the possible answers' type, not the documented one: then it is compared as it is)."""
    answer_type = _answer_type(answers)
    is_variable = answer_type is not None and answer_type is not expected
    if type(value) is expected:
        if nested is None:
            return is_variable
        for answer in answers:
            if not isinstance(answer, list) or all(_type_check(element, answer, nested, None) is not None for element in value):
                return is_variable
    if answer_type is not None and type(value) is answer_type:
        return True
    return None


def _list_matches(value: list[Any], answers: list[Any]) -> bool:
    normal = [standardize(element) if isinstance(element, str) else element for element in value]
    options = [
        [standardize(element) if isinstance(element, str) else element for element in answer]
        for answer in answers
        if isinstance(answer, list)
    ]
    return normal in options


def _dict_matches(value: dict[str, Any], answers: list[Any]) -> bool:
    """BFCL's dict check: some possible dict has every given key, each value among its options
    (strings normalised), and lacks none of its keys that are not optional."""
    for answer in answers:
        if answer == "" or not isinstance(answer, dict):
            continue
        given_ok = all(
            key in answer and _normal(element) in [_normal(option) for option in answer[key]]
            for key, element in value.items()
        )
        if given_ok and all(key in value or "" in options for key, options in answer.items()):
            return True
    return False


def _dict_list_matches(value: list[Any], answers: list[Any]) -> bool:
    return any(
        isinstance(answer, list)
        and len(answer) == len(value)
        and all(isinstance(got, dict) and _dict_matches(got, [want]) for got, want in zip(value, answer, strict=True))
        for answer in answers
    )


def _normal(value: Any) -> Any:
    return standardize(value) if isinstance(value, str) else value


def _json_calls(text: str) -> list[Call]:
    try:
        data = json.loads(text)
    except ValueError:
        return []
    if isinstance(data, dict) and isinstance(data.get("tool_calls"), list):
        data = data["tool_calls"]
    records = data if isinstance(data, list) else [data]
    calls = []
    for record in records:
        if not isinstance(record, dict):
            return []
        record = record.get("function", record)
        if not isinstance(record.get("name"), str):
            return []
        arguments = record.get("arguments", record.get("parameters", {}))
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments)
            except ValueError:
                return []
        calls.append({record["name"]: arguments if isinstance(arguments, dict) else {}})
    return calls


def _python_calls(text: str) -> list[Call]:
    """Calls in BFCL's prompt format: the bracketed list if there is one, else a line that is a call."""
    start, end = text.find("["), text.rfind("]")
    candidates = [text[start : end + 1]] if 0 <= start < end else []
    candidates += [text, *reversed(text.splitlines())]
    for candidate in candidates:
        try:
            tree = ast.parse(candidate.strip(), mode="eval")
        except SyntaxError:
            continue
        nodes = tree.body.elts if isinstance(tree.body, ast.List | ast.Tuple) else [tree.body]
        if nodes and all(isinstance(node, ast.Call) for node in nodes):
            try:
                return [_call(node) for node in nodes]
            except ValueError:
                continue
    return []


def _call(node: ast.Call) -> Call:
    return {_dotted(node.func): {keyword.arg: _value(keyword.value) for keyword in node.keywords if keyword.arg}}


def _dotted(node: ast.expr) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def _value(node: ast.expr) -> Any:
    """A literal argument as BFCL resolves it: constants, containers, signed numbers, arithmetic,
    a bare name as its text, a call without keywords as its source."""
    if isinstance(node, ast.Constant):
        return "..." if node.value is Ellipsis else node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        operand = _value(node.operand)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.List):
        return [_value(element) for element in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(_value(element) for element in node.elts)
    if isinstance(node, ast.Dict):
        return {_value(key): _value(value) for key, value in zip(node.keys, node.values, strict=True) if key is not None}
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
        try:
            return _ARITHMETIC[type(node.op)](_value(node.left), _value(node.right))
        except (TypeError, ArithmeticError) as exc:
            raise ValueError(f"cannot compute {ast.unparse(node)}") from exc
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Call):
        return _call(node) if node.keywords else ast.unparse(node)
    raise ValueError(f"unsupported argument {ast.unparse(node)}")


__all__ = ["NAME", "PYTHON_TYPES", "check", "decode_calls", "load", "openai_tools", "score", "standardize"]
