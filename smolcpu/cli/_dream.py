"""``smol dream``: learn from the recorded runs — distilled choosers, experience, better programs."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from smolcpu.cli._app import app, console, err_console
from smolcpu.errors import UsageError

dream_app = typer.Typer(
    help="Learn from the recorded runs: fast choosers distilled from the LLM's decisions, verified"
    " solutions as experience, program variants adopted when they do better.",
    no_args_is_help=False,
)
app.add_typer(dream_app, name="dream")


def _show_report(report: dict[str, Any]) -> None:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(report.get("at", 0)))
    console.print(
        f"[bold]dream of {when}[/] · {report['runs']} runs read, {report['succeeded']} succeeded,"
        f" {report['solved']} verified solutions ({report['experience_added']} new in experience)"
        f" · {report['seconds']:.1f} s"
    )
    if report["decisions"]:
        table = Table(box=None, header_style="bold", title="decisions recorded", title_justify="left")
        for column in ("decided by", "decisions", "median latency"):
            table.add_column(column, justify="right" if column != "decided by" else "left")
        for who, count in report["decisions"].items():
            table.add_row(who, str(count), f"{report['latency'][who] * 1000:.1f} ms")
        console.print(table)
    if report["points"]:
        table = Table(box=None, header_style="bold", title="distilled choosers (held-out)", title_justify="left")
        for column in ("decision point", "LLM decisions", "agreement", "lower bound", "coverage", "note"):
            table.add_column(column, no_wrap=column != "note")
        for point in report["points"]:
            table.add_row(
                escape(point["point"]),
                str(point["decisions"]),
                f"{point['agreement']:.1%}",
                f"{point['lower']:.1%}",
                f"{point['coverage']:.1%}",
                escape(point["reason"]),
            )
        console.print(table)
    for version, (agreed, total) in report.get("audits", {}).items():
        console.print(f"audited {version[:12]}: {agreed}/{total} agreed with the LLM ({agreed / total:.1%})")
    for change in report["changes"]:
        what = change["change"]
        detail = change.get("why") or f"coverage {change.get('coverage', 0):.1%} at agreement {change.get('agreement', 0):.1%}"
        console.print(f"[bold]{escape(what)}[/] {escape(change['point'])}: {escape(detail)}", highlight=False)
    llm, distilled = report["latency"].get("llm"), report["latency"].get("distilled")
    if llm and distilled:
        console.print(
            f"a distilled decision took {distilled * 1000:.1f} ms, the LLM's {llm * 1000:.0f} ms"
            f" ({llm / distilled:.0f}x)"
        )
    for note in report["notes"]:
        console.print(f"[yellow]note[/]: {escape(note)}", highlight=False)


def _dream_now(target: float, *, tidy: bool) -> None:
    from smolcpu.dream import dream
    from smolcpu.dream._dream import default_embedder
    from smolcpu.dream._triggers import lower_priority, wait_for_room

    lower_priority()
    if not wait_for_room():
        raise UsageError("no room under the memory budget for dreaming (the running sessions hold it); try later")
    embed = default_embedder()
    report = dream(embed=embed, target=target)
    _show_report(report.to_json())
    if tidy and embed is not None:
        import asyncio

        from smolcpu.artifact import RunIndex, open_store
        from smolcpu.dream._consolidate import consolidate
        from smolcpu.units.tools import Vault

        with RunIndex() as index, open_store(index=index) as store:
            changes = asyncio.run(consolidate(Vault(), store, embed=embed))
        console.print(
            f"memory vault: {len(changes)} changes, duplicates merged and related notes linked"
            " (`smol dream consolidate --undo` puts them back)"
        )


@dream_app.callback(invoke_without_command=True)
def dream_command(
    ctx: typer.Context,
    report: bool = typer.Option(False, "--report", help="Show what the last dream learnt, and do nothing else."),
    revert: bool = typer.Option(False, "--revert", help="Put the previous distilled chooser back in service."),
    point: str = typer.Option("", "--point", help="With --revert: only this decision point (PROGRAM#BLOCK)."),
    if_due: bool = typer.Option(False, "--if-due", help="Dream only when due (schedule, new runs, edits)."),
    watch: bool = typer.Option(False, "--watch", help="Keep checking, and dream whenever due (Ctrl-C stops)."),
    every: float = typer.Option(24.0, "--every", min=0.0, help="Due when the last dream is this many hours old."),
    after_runs: int = typer.Option(50, "--after-runs", min=1, help="Due after this many new runs."),
    after_edits: int = typer.Option(5, "--after-edits", min=1, help="Due after this many edited programs."),
    target: float = typer.Option(
        0.98, "--target", min=0.5, max=0.999, help="Agreement with the LLM a distilled chooser keeps (lower bound)."
    ),
    json_out: bool = typer.Option(False, "--json", help="With --report: the report as JSON."),
    tidy: bool = typer.Option(
        False, "--consolidate", help="Also merge duplicate notes and link related ones (undoable; no LLM summaries)."
    ),
    background: bool = typer.Option(
        False,
        "--background",
        help="Do it in a detached low-priority process and return at once (its log: SMOL_HOME/dream/dream.log).",
    ),
) -> None:
    """Learn from the recorded runs (dream once now, unless told otherwise)."""
    if ctx.invoked_subcommand is not None:
        return
    if background:
        _detach()
        return
    if report:
        from smolcpu.dream import latest_report

        found = latest_report()
        if found is None:
            raise UsageError("no dream yet: run `smol dream` first")
        console.print_json(json.dumps(found)) if json_out else _show_report(found)
        return
    if revert:
        from smolcpu.artifact import RunIndex, open_store
        from smolcpu.dream import revert as revert_choosers

        with RunIndex() as index, open_store(index=index) as store:
            for change in revert_choosers(store, point or None):
                console.print(f"reverted {escape(change['point'])}: {change['from']} -> {change['to'] or 'the LLM'}")
        return
    if not (if_due or watch):
        _dream_now(target, tidy=tidy)
        return
    from smolcpu.artifact import RunIndex
    from smolcpu.dream._triggers import due

    while True:
        with RunIndex() as index:
            verdict = due(index, every_s=every * 3600, after_runs=after_runs, after_edits=after_edits)
        if verdict.due:
            err_console.print(f"dreaming: {verdict.why}", highlight=False)
            _dream_now(target, tidy=tidy)
        elif not watch:
            console.print(f"not due: {verdict.why}", highlight=False)
        if not watch:
            return
        time.sleep(60)


def _detach() -> None:
    """Run the same ``smol dream`` command, without ``--background``, in a process of its own."""
    import subprocess
    import sys

    from smolcpu import config

    log = config.dream_dir() / "dream.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    argv = [arg for arg in sys.argv[1:] if arg != "--background"]
    with log.open("a") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "smolcpu", *argv], stdout=out, stderr=out, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    console.print(f"dreaming in the background (process {process.pid}); log: {log}")


def _program_path(program: str) -> Path:
    from smolcpu.programs import PROGRAMS

    path = Path(program).expanduser().resolve()
    if not path.is_file():
        raise UsageError(f"no program file {program!r}")
    if path.is_relative_to(PROGRAMS):
        raise UsageError(f"{path.name} ships with Smol: copy it (cp {path} my.smol) and improve your copy")
    return path


@dream_app.command("improve")
def improve_command(
    program: str = typer.Argument(..., help="The program file to improve (your own; copy a shipped one first)."),
    cases: str = typer.Option("", "--cases", help="JSON lines of {\"input\": ..., \"answer\": ...}: known answers."),
    from_runs: bool = typer.Option(False, "--from-runs", help="Also use the program's verified runs as cases."),
    model: str = typer.Option("", "--model", help="The LLM the program and the proposals run on."),
    try_model: list[str] = typer.Option([], "--try-model", help="Another model to try for each LLM step (repeatable)."),
    proposals: int = typer.Option(2, "--proposals", min=0, max=5, help="Rewritten instructions per LLM step."),
    seed: int = typer.Option(0, "--seed", help="How the cases are split into chosen-on and held-out."),
) -> None:
    """Try variants of a program on cases with known answers; adopt one only when it is better held out.

    Its recorded runs propose verification steps to add or remove (docs/dream.md §4)."""
    import asyncio

    from smolcpu.artifact import RunIndex, open_store
    from smolcpu.dream import mine
    from smolcpu.dream._improve import Case, Improvement, improve, llm_proposer, load_cases, session_runner
    from smolcpu.programs import Session

    path = _program_path(program)
    found = load_cases(Path(cases)) if cases else []
    with RunIndex() as index, open_store(index=index) as store:
        mined = mine(index, store, runs=[run for run in index.runs() if run.program == str(path)])
        if from_runs:
            found += [Case(s.question, s.answer) for s in mined.solved]
        if not found:
            raise UsageError("no cases: give --cases FILE.jsonl (input and known answer per line) or --from-runs")

        async def go() -> Improvement:
            async with Session(model=model or None, record=False) as session:
                return await improve(
                    path,
                    found,
                    store,
                    run=session_runner(session, path=path),
                    propose=llm_proposer(session, count=proposals) if proposals else None,
                    models=try_model,
                    steps=mined.steps_of(str(path)),
                    seed=seed,
                )

        result = asyncio.run(go())
    table = Table(box=None, header_style="bold")
    for column in ("variant", "chosen on", "held out"):
        table.add_column(column)
    for change, scores in [("(the program)", result.baseline), *((v["change"], v) for v in result.variants)]:
        table.add_row(escape(change), _scored(scores.get("chosen on")), _scored(scores.get("held out")))
    console.print(table)
    verdict = f"[green]adopted[/] {escape(result.adopted)}" if result.adopted else "[yellow]kept the program[/]"
    console.print(f"{verdict}: {escape(result.why)} ({result.cases} cases, {result.held_out} held out)")


def _scored(score: object) -> str:
    """A variant's score on a set of cases: right answers, steps and tokens; a dash if not tried."""
    return "—" if score is None else str(score)


@dream_app.command("diff")
def diff_command(program: str = typer.Argument(..., help="A program dream changed.")) -> None:
    """Show what dream's last change to a program changed (and any edit of yours since)."""
    from smolcpu.artifact import RunIndex, open_store
    from smolcpu.dream._improve import diff

    with RunIndex() as index, open_store(index=index) as store:
        console.print(escape(diff(store, Path(program).expanduser())), highlight=False, end="")


@dream_app.command("revert")
def revert_command(program: str = typer.Argument(..., help="A program dream changed.")) -> None:
    """Put a program back as it was before dream's last change (never over an edit of yours)."""
    from smolcpu.artifact import RunIndex, open_store
    from smolcpu.dream._improve import revert_program

    with RunIndex() as index, open_store(index=index) as store:
        why = revert_program(store, Path(program).expanduser())
    console.print(f"reverted {escape(program)}: undid {escape(why)}")


@dream_app.command("consolidate")
def consolidate_command(
    undo: bool = typer.Option(False, "--undo", help="Undo the last consolidation (notes edited since are left)."),
    summaries: bool = typer.Option(True, "--summaries/--no-summaries", help="Summarise long notes with the LLM."),
    model: str = typer.Option("", "--model", help="The LLM that writes the summaries."),
) -> None:
    """Tidy the memory vault: merge duplicate notes, link related ones, summarise long ones (undoable)."""
    import asyncio

    from smolcpu.artifact import RunIndex, open_store
    from smolcpu.dream._consolidate import consolidate, llm_summariser, undo_consolidation
    from smolcpu.dream._dream import default_embedder
    from smolcpu.programs import Session
    from smolcpu.units.tools import Vault

    vault = Vault()
    with RunIndex() as index, open_store(index=index) as store:
        if undo:
            said = undo_consolidation(vault, store)
            for line in said or ["no consolidation to undo"]:
                console.print(escape(line), highlight=False)
            return
        embed = default_embedder()
        if embed is None:
            raise UsageError("consolidation compares notes by meaning: smol models install minilm")

        async def go() -> list[dict[str, Any]]:
            if not summaries:
                return await consolidate(vault, store, embed=embed)
            async with Session(model=model or None, record=False) as session:
                return await consolidate(vault, store, embed=embed, summarise=llm_summariser(session))

        changes = asyncio.run(go())
    for change in changes:
        console.print(f"{escape(change['change'])} {escape(change['note'])}: {escape(change['why'])}", highlight=False)
    console.print(f"{len(changes)} changes; `smol dream consolidate --undo` puts them back")


__all__ = ["dream_app"]
