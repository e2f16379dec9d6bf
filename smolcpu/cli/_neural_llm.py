"""``smol tool llm "PROMPT"``: ask the local language model, streaming its answer."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from smolcpu import config
from smolcpu.cli._app import console, err_console
from smolcpu.cli._tools import tool_app
from smolcpu.errors import UsageError
from smolcpu.units.neural import LLMEngine


def _schema(value: str | None) -> dict | None:
    if value is None:
        return None
    text = Path(value).read_text() if Path(value).is_file() else value
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--json-schema is neither a file nor JSON: {exc}") from exc
    if not isinstance(schema, dict):
        raise UsageError("--json-schema must be a JSON object")
    return schema


@tool_app.command("llm")
def llm(
    prompt: str = typer.Argument(..., help="What to ask."),
    model: str = typer.Option(config.LLM_MODEL, "--model", "-m", help="A registry name or a path to a GGUF file."),
    system: str | None = typer.Option(None, "--system", help="A system prompt."),
    max_tokens: int = typer.Option(config.LLM_MAX_TOKENS, "--max-tokens", help="Longest answer, in tokens."),
    json_schema: str | None = typer.Option(None, "--json-schema", help="Answer as JSON of this schema (JSON or a file)."),
    grammar: str | None = typer.Option(None, "--grammar", help="Answer in this GBNF grammar."),
    option: list[str] = typer.Option(None, "--option", "-o", help="Choose one of these (repeat the flag)."),
    context: int = typer.Option(config.LLM_CONTEXT, "--context", help="Context window, in tokens."),
    temperature: float | None = typer.Option(None, "--temperature", help="Sampling temperature (0 = greedy)."),
) -> None:
    """Ask the local LLM; the answer streams to stdout, its cost to stderr."""
    engine = LLMEngine(model, context=context)
    if option:
        console.print(engine.choose(prompt, option), highlight=False)
        return
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": prompt})
    completion = engine.chat(
        messages,
        max_tokens=max_tokens,
        json_schema=_schema(json_schema),
        grammar=grammar,
        temperature=temperature,
        on_token=lambda piece: console.print(piece, end="", highlight=False, markup=False, soft_wrap=True),
    )
    console.print()
    err_console.print(
        f"[dim]{engine.model}: {completion.prompt_tokens} prompt + {completion.completion_tokens} answer tokens,"
        f" {completion.tokens_per_second:.1f} tokens/s, {completion.finish_reason}[/]",
        highlight=False,
        soft_wrap=True,
    )
