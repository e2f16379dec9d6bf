import subprocess
import sys


def smol(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "smolcpu", *args], capture_output=True, text=True, timeout=60)


def test_help_lists_commands() -> None:
    result = smol("--help")
    assert result.returncode == 0
    assert "version" in result.stdout and "test" in result.stdout


def test_version() -> None:
    result = smol("version")
    assert result.returncode == 0
    assert result.stdout.startswith("smol 0.1.0")


def test_unknown_benchmark_is_a_clear_error() -> None:
    result = smol("bench", "no-such-bench")
    assert result.returncode == 2
    assert "no benchmark 'no-such-bench'" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_benchmarks_help_is_its_own() -> None:
    result = smol("bench", "solve", "--help")
    assert result.returncode == 0
    assert "--suites" in result.stdout and "--systems" in result.stdout
    listed = smol("bench", "--help")
    assert listed.returncode == 0 and "Which benchmark" in listed.stdout


def test_each_command_is_registered_by_the_modules_main_loads_for_it() -> None:
    import typer.main

    from smolcpu.cli import COMMANDS, app

    click_app = typer.main.get_command(app)
    assert set(click_app.commands) == set(COMMANDS)  # type: ignore[attr-defined]
    for info in app.registered_commands:
        name = info.name or info.callback.__name__.replace("_", "-")  # type: ignore[union-attr]
        assert info.callback.__module__.rsplit(".", 1)[-1] in COMMANDS[name]  # type: ignore[union-attr]
    for group in app.registered_groups:
        modules = {command.callback.__module__.rsplit(".", 1)[-1] for command in group.typer_instance.registered_commands}  # type: ignore[union-attr]
        assert modules <= set(COMMANDS[group.name]), group.name  # type: ignore[index]


def test_a_command_run_alone_keeps_its_subcommands_and_options() -> None:
    """``main`` loads one module: a single command must still be a subcommand, not the root."""
    result = smol("doctor", "--help")
    assert result.returncode == 0 and "Usage: smol doctor" in result.stdout
    checked = smol("check", "--help")
    assert checked.returncode == 0 and "Usage: smol check" in checked.stdout


def test_cluster_options_are_checked_before_anything_starts(tmp_path) -> None:
    placement = tmp_path / "placement.toml"
    placement.write_text("[units.math]\nreplicas = 2\n")
    alone = smol("run", "examples/calc.smol", "--input", "1+1", "--placement", str(placement))
    assert alone.returncode != 0 and "give --cluster too" in alone.stderr
    bad = smol("ask", "hi", "--cluster", "http://head:80")
    assert bad.returncode != 0 and "not a Ray address" in bad.stderr and "Traceback" not in bad.stderr
    gone = smol("run", "examples/calc.smol", "--input", "1+1", "--cluster", "127.0.0.1:1")
    assert gone.returncode != 0 and "cannot reach the Ray cluster" in gone.stderr
