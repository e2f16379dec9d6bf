"""``smol draft "DESCRIPTION"``: the local LLM writes a flow program, checked and repaired."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import typer
from rich.markup import escape

from smolcpu import config
from smolcpu.cli._app import app, console, err_console
from smolcpu.draft import Draft, DraftEvent, Drafter, local_llm
from smolcpu.errors import UsageError


class _Progress:
    """Shows what the drafter does on stderr: the program as it is written, then the checker's verdict."""

    def __init__(self, *, model: str, stream: bool) -> None:
        self.model = model
        self.stream = stream
        self.tokens = 0

    def __call__(self, event: DraftEvent) -> None:
        if event.kind == "writing":
            self.tokens = 0
            what = "writing the program" if event.round == 1 else "repairing it"
            err_console.print(f"[bold]round {event.round}[/] · {self.model} is {what}…", highlight=False)
        elif event.kind == "token":
            self.tokens += 1
            if self.stream:
                err_console.print(escape(event.text), end="", style="dim", highlight=False, soft_wrap=True)
        elif event.kind == "checked":
            if self.stream:
                err_console.print()
            if event.text:
                err_console.print(f"[yellow]the checker found errors[/]:\n{escape(event.text)}", highlight=False)
            else:
                err_console.print("[green]checks clean[/]", highlight=False)
        elif event.kind == "completing":
            err_console.print(f"proposing declarations for {escape(event.text)}…", highlight=False)


def _default_path(description: str) -> Path:
    """A file name made from the description's first words, not yet taken in this folder."""
    words = re.findall(r"[a-z0-9]+", description.lower())[:4] or ["draft"]
    stem = "_".join(words)
    path, n = Path(f"{stem}.smol"), 2
    while path.exists():
        path, n = Path(f"{stem}_{n}.smol"), n + 1
    return path


async def _run(drafter_options: dict, model: str, description: str | None, partial: Path | None) -> Draft:
    async with local_llm(model) as llm:
        drafter = Drafter(llm, **drafter_options)
        if partial is not None:
            try:
                source = partial.read_text()
            except OSError as exc:
                raise UsageError(f"cannot read {str(partial)!r}: {exc.strerror or exc}") from exc
            return await drafter.complete(source, path=str(partial))
        assert description is not None
        return await drafter.draft(description)


@app.command()
def draft(
    description: str | None = typer.Argument(None, help="What the program should do, in plain words."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Where to save the program (default: a name made from the description)."
    ),
    complete: Path | None = typer.Option(
        None, "--complete", help="Instead: propose the missing declarations of this partial program."
    ),
    model: str = typer.Option(config.LLM_MODEL, "--model", "-m", help="A registry name or a path to a GGUF file."),
    rounds: int = typer.Option(config.DRAFT_ROUNDS, "--rounds", min=1, help="Programs to write at most, repairs included."),
    seed: int = typer.Option(0, "--seed", help="Sampling seed of the repair rounds (the first is greedy)."),
    force: bool = typer.Option(False, "--force", help="Overwrite --out if it exists."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Do not show the program while it is written."),
) -> None:
    """Have the local LLM write a flow program from a description: checked, repaired, saved.

    The model writes under the flow language's grammar (constrained decoding), so what it
    writes parses; the checker then compiles it, and while it reports errors (for at most
    --rounds programs) its diagnostics go back to the model, which writes the program again.
    Workers left without a declaration get `use` lines proposed (a unit kind from
    `smol units` and an instruction). The program is saved with --out, or under a name made
    from the description; the command exits 1 if it still has errors (it is saved anyway,
    for you to finish).

    With --complete FILE it proposes the missing pieces of a partial program instead (an
    undeclared worker, an llm worker with no instruction): the completed program is printed,
    or saved with --out.

    Examples:

        smol draft "run Python for the question in the sandbox and fix the code when it fails"

        smol draft --complete my_flow.smol --out my_flow.smol --force
    """
    if (description is None) == (complete is None):
        raise UsageError('give a description (smol draft "what it should do") or --complete FILE, not both')
    if out is not None and out.exists() and not force and out != complete:
        raise UsageError(f"{out} exists; choose another --out, or --force to overwrite it")
    if out is not None and out == complete and not force:
        raise UsageError(f"--out is the file being completed; add --force to overwrite {out}")
    progress = _Progress(model=model, stream=not quiet)
    started = time.monotonic()
    result = asyncio.run(_run({"rounds": rounds, "seed": seed, "on_event": progress}, model, description, complete))
    seconds = time.monotonic() - started
    for proposal in result.proposals:
        err_console.print(f"[cyan]proposed[/] {escape(proposal)}", highlight=False)
    for note in result.notes:
        err_console.print(f"[yellow]note[/]: {escape(note)}", highlight=False)
    if complete is not None and out is None:
        console.print(result.source, end="", highlight=False, markup=False)
    else:
        target = out or _default_path(description or "draft")
        target.write_text(result.source)
        err_console.print(f"saved [bold]{escape(str(target))}[/]", highlight=False)
    tries = len(result.attempts)
    summary = f"{seconds:.0f} s" + (f", {tries} round{'s' * (tries > 1)}" if tries else "")
    if not result.ok:
        err_console.print(f"[red]the program still has errors[/] ({summary}):\n{escape(result.report)}", highlight=False)
        raise typer.Exit(1)
    err_console.print(f"[green]ok[/] ({summary}); run it with: smol run FILE --input TEXT", highlight=False)


__all__ = ["draft"]
