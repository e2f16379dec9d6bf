"""Runner: huggingface/smolagents' CodeAgent on the same GGUF, through llama.cpp's OpenAI endpoint.

Runs in the benchmark's own environment (smolagents is never installed in Smol's), so it
imports nothing from Smol. The agent writes Python, which smolagents' own local Python
executor runs (``executor_type="local"``: its AST interpreter with an import allow-list, in
this process). On HumanEval its answer is the function it writes (``_written``: the first code
action that defines the entry point and runs ends the run), or its ``final_answer`` before
that. It gets tools only where a suite needs them: BFCL's functions become tools that record
the call they receive (the recorded calls are what is checked); the image
questions get ``detect_objects`` and ``classify_image``, which ask Smol's detector and
classifier at the endpoint's vision address. Every model call is greedy with the same token
budget as the bare LLM.

    python -m bench.solve._agent --api-base URL --tools URL --max-tokens N --max-steps N
"""

from __future__ import annotations

import argparse
import json
import urllib.error
import urllib.request
from typing import Any

import smolagents
from smolagents import ActionStep, CodeAgent, OpenAIServerModel, Tool, tool
from smolagents.utils import AgentError

from bench.solve._runner import Solve, run
from bench.solve._written import stop_when_defined

INSTRUCTIONS = {
    "gsm8k": "Give the final answer, a number only, with final_answer.",
    "humaneval": "Return the complete source code of the function, imports included, as a string with final_answer.",
    "bfcl": "One of your tools does exactly this: call it once, with the arguments the request gives, then return its result with final_answer.",
    "images": "The picture is the file {image}. Look at it with your tools, then give the answer, one word or one number, with final_answer.",
}
IMPORTS = ["typing", "string", "functools", "heapq", "bisect", "hashlib", "fractions", "decimal"]
"""Modules the agent may import beyond smolagents' base list (HumanEval's programs use them)."""

BFCL_TYPES = {
    "string": "string",
    "integer": "integer",
    "float": "number",
    "boolean": "boolean",
    "array": "array",
    "tuple": "array",
    "dict": "object",
    "any": "any",
}
"""smolagents' input type for each BFCL parameter type."""

TIMEOUT_S = 120.0


def start(options: argparse.Namespace) -> tuple[Solve, dict[str, Any]]:
    model = OpenAIServerModel(
        model_id="local",
        api_base=options.api_base,
        api_key="not-needed",
        max_tokens=options.max_tokens,
        temperature=0.0,
    )

    def solve(item: dict[str, Any]) -> dict[str, Any]:
        calls: list[dict[str, Any]] = []
        written: list[str] = []
        suite = item["suite"]
        tools = function_tools(item["functions"], calls) if suite == "bfcl" else []
        if suite == "images":
            tools = vision_tools(options.tools)
        agent = CodeAgent(
            tools=tools,
            model=model,
            max_steps=options.max_steps,
            verbosity_level=1,  # its steps go to the log (bench/results/solve.log)
            additional_authorized_imports=IMPORTS,
            executor_type="local",
            step_callbacks=[stop_when_defined(item["reference"]["entry_point"], written)] if suite == "humaneval" else [],
        )
        instruction = INSTRUCTIONS[suite].format(image=(item["images"] or [""])[0])
        try:
            result = agent.run(f"{item['request'] or item['task']}\n\n{instruction}", return_full_result=True)
            output, status = result.output, result.state
        except AgentError:
            if not written:
                raise
            output, status = None, "function written"
        usage = agent.monitor.get_total_token_counts()
        reply = {
            "output": written[0] if written else "" if output is None else str(output),
            "steps": sum(1 for step in agent.memory.steps if isinstance(step, ActionStep)),
            "tokens": usage.output_tokens,
            "prompt_tokens": usage.input_tokens,
            "status": status,
        }
        if suite == "bfcl":
            reply["calls"] = calls
        return reply

    return solve, {"smolagents": smolagents.__version__, "executor": "local"}


class Recorder(Tool):
    """A BFCL function as a tool: it records each call it receives under the function's own
    name (a dotted name becomes underscored for the agent, as BFCL does for tool APIs)."""

    skip_forward_signature_validation = True

    def __init__(self, function: dict[str, Any], calls: list[dict[str, Any]]) -> None:
        parameters = function["parameters"]
        required = set(parameters.get("required", []))
        self.name = function["name"].replace(".", "_")
        self.description = function.get("description", "")
        self.inputs = {
            name: {
                "type": BFCL_TYPES.get(spec.get("type", "any"), "any"),
                "description": spec.get("description", name),
                **({} if name in required else {"nullable": True}),
            }
            for name, spec in parameters["properties"].items()
        }
        self.output_type = "string"
        self.function = function["name"]
        self.calls = calls
        super().__init__()

    def forward(self, *args: Any, **kwargs: Any) -> str:
        arguments = dict(zip(self.inputs, args, strict=False))
        arguments.update({key: value for key, value in kwargs.items() if value is not None})
        self.calls.append({self.function: arguments})
        return f"{self.function} was called with {json.dumps(arguments, default=str)}: done."


def function_tools(functions: list[dict[str, Any]], calls: list[dict[str, Any]]) -> list[Tool]:
    """BFCL's functions as tools that record their calls in ``calls``."""
    return [Recorder(function, calls) for function in functions]


def vision_tools(address: str) -> list[Tool]:
    """Smol's detector and classifier, asked over loopback HTTP, as two smolagents tools."""
    def ask(kind: str, image_path: str) -> str:
        request = urllib.request.Request(
            f"{address}/{kind}", json.dumps({"image": image_path}).encode(), {"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                return response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.read().decode()

    @tool
    def detect_objects(image_path: str) -> str:
        """Find the objects in a picture (the 80 COCO classes: person, car, dog, ...).

        Args:
            image_path: the picture's file path.

        Returns:
            A JSON list, best first: each object's label, score (0-1) and box [x1, y1, x2, y2] in pixels.
        """
        return ask("detect", image_path)

    @tool
    def classify_image(image_path: str) -> str:
        """Name what a picture shows as a whole (the 1000 ImageNet classes).

        Args:
            image_path: the picture's file path.

        Returns:
            A JSON list of the three most likely classes with their probabilities.
        """
        return ask("classify", image_path)

    return [detect_objects, classify_image]


if __name__ == "__main__":
    run(start, api_base=str, tools=str, max_tokens=int, max_steps=int)
