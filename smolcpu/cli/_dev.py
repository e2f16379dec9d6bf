"""Commands for working on Smol itself: version, tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import typer

import smolcpu
from smolcpu.cli._app import app, console
from smolcpu.errors import UsageError


@app.command()
def version() -> None:
    """Print Smol's version and the Python it runs on."""
    console.print(f"smol {smolcpu.__version__} (Python {sys.version.split()[0]})")


def checkout_root() -> Path:
    """The source checkout Smol runs from (tests and benchmarks live there, not in the package)."""
    root = Path(smolcpu.__file__).resolve().parent.parent
    if not (root / "tests").is_dir():
        raise UsageError(
            "this Smol is installed without its source checkout; run tests from a clone: ./smol test"
        )
    return root


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def test(
    ctx: typer.Context,
    slow: bool = typer.Option(False, "--slow", help="Run the slow, model-heavy checks instead."),
) -> None:
    """Run the test suite (fast checks by default; extra arguments go to pytest)."""
    root = checkout_root()
    args = [sys.executable, "-m", "pytest", *(["-m", "slow"] if slow else []), *ctx.args]
    raise typer.Exit(subprocess.call(args, cwd=root))


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
    options_metavar="[--help]",
)
def bench(
    ctx: typer.Context,
    name: str = typer.Argument(None, help="Which benchmark: a folder under bench/ (runtime, executor, ...)."),
) -> None:
    """Run a benchmark from bench/: it prints a table and writes bench/results/NAME.json.

    `smol bench NAME --help` shows that benchmark's own options.
    """
    if name is None or name in ("--help", "-h"):
        console.print(ctx.get_help())
        raise typer.Exit(0 if name else 2)
    root = checkout_root()
    if not (root / "bench" / name / "__main__.py").is_file():
        known = sorted(p.parent.name for p in (root / "bench").glob("*/__main__.py"))
        raise UsageError(f"no benchmark {name!r}; there are: {', '.join(known) or 'none yet'}")
    raise typer.Exit(subprocess.call([sys.executable, "-m", f"bench.{name}", *ctx.args], cwd=root))
