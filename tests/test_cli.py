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
