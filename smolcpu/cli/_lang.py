"""``smol check``, ``smol compile`` and ``smol fmt``: the flow language front end."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from smolcpu.cli._app import app
from smolcpu.errors import FlowSyntaxError, UsageError
from smolcpu.lang import Compilation, compile_file, format_program, parse


class Target(str, Enum):
    graph = "graph"
    container = "container"


class GraphFormat(str, Enum):
    text = "text"
    json = "json"
    dot = "dot"
    mermaid = "mermaid"


def _compile(path: Path) -> Compilation:
    """Compile ``path``; a syntax error is printed like any diagnostic and exits 1."""
    try:
        return compile_file(path)
    except FlowSyntaxError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None


def _summary(compilation: Compilation) -> str:
    errors, warnings = len(compilation.errors), len(compilation.warnings)
    return f"{compilation.path}: {errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"


@app.command()
def check(
    files: list[Path] = typer.Argument(..., help="The .smol programs to check.", metavar="FILE..."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Show errors only, not warnings."),
) -> None:
    """Check programs: every error and warning with its position; exit 1 if any has errors."""
    failed = False
    for path in files:
        compilation = _compile(path)
        report = compilation.render(warnings=not quiet)
        if report:
            typer.echo(report, err=True)
        typer.echo(_summary(compilation), err=True)
        failed |= not compilation.ok
    raise typer.Exit(1 if failed else 0)


@app.command("compile")
def compile_(
    file: Path = typer.Argument(..., help="The .smol program to compile."),
    folder: Path = typer.Argument(None, help="With --target container: the folder the build context goes to."),
    target: Target = typer.Option(Target.graph, "--target", "-t", help="graph: print the graph; container: a build context that serves the program."),
    format: GraphFormat = typer.Option(GraphFormat.text, "--format", "-f", help="How to print the graph."),
    optimise: bool = typer.Option(True, "--optimise/--no-optimise", help="Run the optimiser first."),
    model: str = typer.Option(None, "--model", "-m", help="Container: the LLM of the program's llm steps (a registry name; default SMOL_LLM_MODEL)."),
    bundle_models: bool = typer.Option(True, "--bundle-models/--install-models", help="Container: copy the verified models into the context, or install them when the image is built."),
    extra: list[str] = typer.Option([], "--extra", help="Container: an extra of Smol the image needs too (ray, for smol serve --cluster); repeatable."),
) -> None:
    """Compile a program to its graph and print it (text, json, Graphviz dot or Mermaid), or
    with `--target container DIR` write a build context (Dockerfile, pinned requirements, the
    models by name and sha256, the program) whose image serves it with `smol serve`
    (docs/deploy.md).

    Diagnostics go to stderr. A program with errors is still drawn (unoptimised), so you
    can see what is wrong, and the command exits 1.
    """
    if target is Target.container:
        _container(file, folder, model=model, bundle_models=bundle_models, extras=extra)
        return
    if folder is not None:
        raise UsageError(f"a folder ({folder}) is only taken with --target container")
    compilation = _compile(file)
    report = compilation.render()
    if report:
        typer.echo(report, err=True)
    graph = compilation.optimised if optimise and compilation.ok else compilation.graph
    render = {
        GraphFormat.text: graph.dump,
        GraphFormat.json: graph.to_json,
        GraphFormat.dot: graph.to_dot,
        GraphFormat.mermaid: graph.to_mermaid,
    }[format]
    typer.echo(render().rstrip("\n"))
    raise typer.Exit(0 if compilation.ok else 1)


def _container(file: Path, folder: Path | None, *, model: str | None, bundle_models: bool, extras: list[str]) -> None:
    from smolcpu.deploy import write_container

    if folder is None:
        raise UsageError("--target container needs the folder to write to: smol compile PROGRAM --target container DIR")
    context = write_container(file, folder, llm=model, bundle_models=bundle_models, extras=extras)
    models = ", ".join(f"{spec.name} ({context.sha256[spec.name][:12]}…)" for spec in context.models) or "none"
    typer.echo(f"wrote {folder}: serves {file} as model {context.served_model}", err=True)
    typer.echo(f"  models: {models}; {len(context.requirements)} pinned requirements", err=True)
    typer.echo(f"  build and run: docker build -t smol-{context.program} {folder}"
               f" && docker run -p 8000:8000 -e SMOL_API_KEYS=KEY smol-{context.program}", err=True)


@app.command()
def fmt(
    files: list[Path] = typer.Argument(..., help="The .smol programs to format.", metavar="FILE..."),
    check: bool = typer.Option(False, "--check", help="Change nothing; exit 1 if a file is not formatted."),
    write: bool = typer.Option(False, "--write", "-w", help="Rewrite the files in place."),
) -> None:
    """Print programs in the canonical layout (comments kept), or check or rewrite them."""
    if check and write:
        raise UsageError("--check and --write exclude each other: --check changes nothing")
    unformatted = []
    for path in files:
        try:
            source = path.read_text()
        except OSError as exc:
            raise UsageError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from exc
        try:
            formatted = format_program(parse(source, path=path))
        except FlowSyntaxError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(1) from None
        if check:
            if formatted != source:
                unformatted.append(path)
                typer.echo(f"would reformat {path}", err=True)
        elif write:
            if formatted != source:
                path.write_text(formatted)
                typer.echo(f"formatted {path}", err=True)
        else:
            typer.echo(formatted, nl=False)
    raise typer.Exit(1 if unformatted else 0)
