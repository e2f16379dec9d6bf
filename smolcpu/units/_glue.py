"""What one unit emits, the next can take: the conversions between units, defined once.

A flow passes one artifact from step to step, and small models do not write what a tool
expects: an LLM answers a "write a program" step with a fenced block and a sentence around
it, or an arithmetic step with ``The answer is $1,200 * 3.``. These functions turn such
replies into what the next unit takes, and turn any artifact into the text a model reads:

- :func:`code_from` — the Python in a reply; :func:`program_of` — the program the sandbox
  runs (the code of each piece of a join's list, in order);
- :func:`expression_from` — the arithmetic in a reply (the math tool takes it);
- :func:`images_from` — the images a request carries (classify and detect take the first);
- :func:`text_for_model` — what an LLM is shown of any artifact: a request's question, an
  error's message, a tool's JSON as compact lines (detections counted by label).

docs/language.md ("What units take") describes the same rules for program writers.
"""

from __future__ import annotations

import ast
import base64
import binascii
import json
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from smolcpu.artifact import BYTES, ERROR, JSON, Artifact
from smolcpu.errors import ArtifactError, UsageError

REQUEST = "application/vnd.smol.request+json"
"""A request: ``{"question": "...", "images": [{"name", "type", "data"}], "tools": [...],
"history": [{"role", "content"}]}`` (image ``data`` is base64; ``tools`` in OpenAI's
function format; ``history`` the earlier turns of a chat). ``smol ask --image``, ``smol
chat`` and the Python ``ask(images=..., tools=...)`` make one."""

IMAGE_REQUEST = "application/vnd.smol.image-request+json"
"""A request with images attached: the same JSON, a type of its own, so that a ``match``
routes it by rule (a MIME-type pattern), never by a guess."""

TOOLS_REQUEST = "application/vnd.smol.tools-request+json"
"""A request that offers the model functions to call (routed by rule, like an image request)."""

CODE_REQUEST = "application/vnd.smol.code-request+json"
"""A request whose question is Python with a function left to write: a signature and its
docstring with no body ("complete this function"), routed by rule like the two above."""

REQUEST_TYPES = (REQUEST, IMAGE_REQUEST, TOOLS_REQUEST, CODE_REQUEST)

MAX_HISTORY_TURNS = 12
"""Earlier chat turns a model is shown with a request."""

MAX_MODEL_TEXT = 6000
"""Characters of one artifact an LLM is shown; longer text is cut with a note."""

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)
_CODE_LANGUAGES = {"", "python", "py", "python3"}
_CODE_LINE = re.compile(
    r"^(?:import |from \w|def |class |print\(|for |while |if |return |[A-Za-z_][\w.\[\]]*\s*[-+*/]?=[^=]|#)"
)
_CODE_START = re.compile(r"^(?:def |async def |class |import |from [\w.]+ import |@)", re.M)
_NUMBER_COMMAS = re.compile(r"(?<=\d),(?=\d{3}\b)")
_CURRENCY = re.compile(r"[$€£](?=\s*[\d.(])")
_EXPRESSION = re.compile(r"[\d.()\s+\-*/%^<>=!,a-z_$]+", re.I)


def code_from(text: str) -> str:
    """The Python program in an LLM's reply: the fenced Python blocks joined, else the reply
    from its first line that looks like code (prose before it dropped), else the reply."""
    blocks = [body for language, body in _FENCE.findall(text) if language.lower() in _CODE_LANGUAGES]
    if blocks:
        return "\n\n".join(block.strip("\n") for block in blocks) + "\n"
    lines = text.strip().splitlines()
    for i, line in enumerate(lines):
        if _CODE_LINE.match(line):
            return "\n".join(lines[i:]) + "\n"
    return text


def program_of(artifact: Artifact) -> str:
    """The program a sandbox runs: the code in what another unit wrote; given a join's list,
    the code of each piece in order (a model's function, then the checks a tool wrote for it)."""
    if artifact.type == JSON:
        value = artifact.as_json()
        if isinstance(value, list):
            return "\n".join(code_from(piece) for piece in value if isinstance(piece, str))
    return code_from(question_of(artifact))


def expression_from(text: str) -> str:
    """The arithmetic expression in a reply: a fenced block, or the last line with a digit;
    a leading ``Answer:``-style label, inline backticks, a trailing ``=``, currency signs and
    thousands separators removed (``$x`` register reads are kept)."""
    blocks = [body for _, body in _FENCE.findall(text)]
    candidates = (blocks[-1] if blocks else text).strip().splitlines()
    line = next((c for c in reversed(candidates) if any(ch.isdigit() or ch == "$" for ch in c)), text.strip())
    line = re.sub(r"^\s*[A-Za-z][A-Za-z ]{0,30}:\s*", "", line.strip().strip("`"))
    line = _CURRENCY.sub("", _NUMBER_COMMAS.sub("", line)).strip().rstrip("=").strip().rstrip(".")
    return line if _EXPRESSION.fullmatch(line) else line.split("=")[-1].strip() or line


def request_artifact(
    question: str,
    *,
    images: Sequence[tuple[str, str, bytes]] = (),
    tools: Sequence[dict[str, Any]] = (),
    history: Sequence[dict[str, str]] = (),
) -> Artifact:
    """A request artifact: ``question`` with ``images`` as (name, MIME type, bytes), the
    ``tools`` a model may call and the ``history`` of the chat so far."""
    payload: dict[str, Any] = {"question": question}
    if images:
        payload["images"] = [
            {"name": name, "type": kind, "data": base64.b64encode(data).decode("ascii")} for name, kind, data in images
        ]
    if tools:
        payload["tools"] = list(tools)
    if history:
        payload["history"] = list(history)
    kind = TOOLS_REQUEST if tools else IMAGE_REQUEST if images else CODE_REQUEST if has_stub(question) else REQUEST
    return Artifact.json(payload, type=kind, origin="user", role="input")


def has_stub(text: str) -> bool:
    """Whether ``text`` is Python (in a fenced block, or after a line of prose) with a function
    left to write: a ``def`` whose body is only a docstring (or ``...``/``pass``, and imports)."""
    return bool(stubs_in(text))


def stubs_in(text: str) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    """The functions left to write in ``text`` (see :func:`has_stub`), in the order written."""
    if "def " not in text:
        return []
    start = _CODE_START.search(text)
    sources = [code for language, code in _FENCE.findall(text) if language.lower() in _CODE_LANGUAGES]
    for source in [*sources, text[start.start() :] if start else ""]:
        found = _stubs_of(source)
        if found:
            return found
    return []


def _stubs_of(source: str) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # the last two: nesting too deep to parse
        return []
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and all(_is_filler(statement) for statement in node.body)
    ]


def _is_filler(statement: ast.stmt) -> bool:
    """A statement that leaves a function still to write: a docstring, ``...``, ``pass``, an import."""
    if isinstance(statement, ast.Pass | ast.Import | ast.ImportFrom):
        return True
    return isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant) and isinstance(
        statement.value.value, str | type(...)
    )


def tools_of(artifact: Artifact) -> list[dict[str, Any]] | None:
    """The functions a request offers the model (None when it offers none)."""
    if artifact.type not in REQUEST_TYPES:
        return None
    tools = artifact.as_json().get("tools")
    return list(tools) if isinstance(tools, list) and tools else None


def images_from(artifact: Artifact) -> list[bytes]:
    """The images an artifact is or carries (bytes, or a request's attachments).

    Raises:
        UsageError: a request whose image data is not base64.
    """
    if artifact.type == BYTES or artifact.type.startswith("image/"):
        return [artifact.payload]
    if artifact.type not in REQUEST_TYPES:
        return []
    try:
        return [base64.b64decode(image["data"], validate=True) for image in artifact.as_json().get("images", ())]
    except (binascii.Error, KeyError, TypeError) as exc:
        raise UsageError(f"a request's image is not base64 data: {exc}") from exc


def question_of(artifact: Artifact) -> str:
    """The question a request asks (the text of any other artifact)."""
    if artifact.type in REQUEST_TYPES:
        return str(artifact.as_json().get("question", ""))
    return artifact.as_text()


def text_for_model(artifact: Artifact) -> str:
    """What an LLM is shown of ``artifact``, at most :data:`MAX_MODEL_TEXT` characters."""
    if artifact.type in REQUEST_TYPES:
        value = artifact.as_json()
        names = [image.get("name", "image") for image in value.get("images", ())]
        earlier = "".join(
            f"{'User' if turn.get('role') == 'user' else 'You'}: {turn.get('content', '')}\n"
            for turn in value.get("history", ())[-MAX_HISTORY_TURNS:]
        )
        text = str(value.get("question", "")) + "".join(f"\n[attached image: {name}]" for name in names)
        if earlier:
            text = f"Earlier in this conversation:\n{earlier}\nNow the user says: {text}"
    elif artifact.type == ERROR:
        text = _error_text(artifact)
    elif artifact.type == JSON:
        try:
            text = _json_text(artifact.as_json())
        except ArtifactError:
            text = artifact.as_text()
    elif artifact.type == BYTES or artifact.type.startswith("image/"):
        text = f"<{len(artifact.payload)} bytes of {artifact.type}>"
    else:
        text = artifact.as_text()
    if len(text) > MAX_MODEL_TEXT:
        text = text[:MAX_MODEL_TEXT] + f"\n… ({len(text) - MAX_MODEL_TEXT} more characters cut)"
    return text


def _error_text(artifact: Artifact) -> str:
    try:
        value = artifact.as_json()
    except ArtifactError:
        value = None
    result = value.get("result") if isinstance(value, dict) else None
    message = artifact.error_message
    if isinstance(result, dict) and result.get("stderr"):
        message += "\n" + str(result["stderr"])[-1500:]
    return "Error: " + message


def _json_text(value: Any) -> str:
    """Tool JSON as lines a small model reads well: detections counted, sandbox output shown."""
    if _is_detections(value):
        return _detections_text(value)
    if _is_classes(value):
        return "Image classes (best first): " + ", ".join(f"{c['label']} {c['score']:.2f}" for c in value)
    if isinstance(value, list) and any(_is_detections(v) or _is_classes(v) for v in value):
        return "\n".join(_detections_text(v) if v == [] else _json_text(v) for v in value)  # [] found nothing
    if isinstance(value, dict) and "stdout" in value and "exit_status" in value:
        return str(value["stdout"]).strip() or str(value.get("stderr", "")).strip()
    return json.dumps(value, ensure_ascii=False)


def _is_detections(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) and {"label", "box"} <= set(v) for v in value)


def _is_classes(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, dict) and {"label", "score", "index"} <= set(v) for v in value)
    )


def _detections_text(objects: list[dict[str, Any]]) -> str:
    if not objects:
        return "Objects detected: none."
    counts = Counter(o["label"] for o in objects)
    areas = Counter()
    for o in objects:
        x1, y1, x2, y2 = o["box"]
        areas[o["label"]] += max(0.0, x2 - x1) * max(0.0, y2 - y1)
    largest = max(objects, key=lambda o: (o["box"][2] - o["box"][0]) * (o["box"][3] - o["box"][1]))
    listed = ", ".join(f"{n} {label}" for label, n in counts.most_common())
    return (
        f"Objects detected: {listed} ({len(objects)} in all).\n"
        f"Largest single object: {largest['label']}.\n"
        f"Object kind covering the most area: {areas.most_common(1)[0][0]}."
    )


__all__ = [
    "MAX_MODEL_TEXT",
    "IMAGE_REQUEST",
    "REQUEST",
    "REQUEST_TYPES",
    "TOOLS_REQUEST",
    "code_from",
    "expression_from",
    "images_from",
    "question_of",
    "request_artifact",
    "text_for_model",
    "tools_of",
]
