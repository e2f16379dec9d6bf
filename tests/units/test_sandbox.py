"""The code sandbox: what a snippet gets back, the tool's interface, ``smol sandbox``."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import pytest

from smolcpu.artifact import Artifact
from smolcpu.errors import UsageError
from smolcpu.units import create_unit, unit_kind
from smolcpu.units._tool import ToolFailed
from smolcpu.units.tools import SandboxTool, available_jails, run_snippet
from smolcpu.units.tools._sandbox import (
    MAX_CODE_BYTES,
    MAX_OUTPUT_BYTES,
    MAX_RETURNED_FILE_BYTES,
    MAX_RETURNED_FILES,
)
from smolcpu.units.tools._sandbox_jail import CONFINING, INSTALL_BUBBLEWRAP, JAILS, choose_jail, probe


def run(code: str, **options: object):
    return asyncio.run(run_snippet(code, **options))


def unavailable(name: str) -> str | None:
    """Why the jail ``name`` cannot be tested here, with what to install; ``None`` when it can."""
    reason = probe(name)
    return reason and f"{name} does not work here ({reason}); {INSTALL_BUBBLEWRAP}"


def jails(names: tuple[str, ...] = JAILS) -> pytest.MarkDecorator:
    """Run a test once per jail of ``names``; one that does not work here is skipped, saying why."""
    params = [pytest.param(name, marks=pytest.mark.skipif(bool(unavailable(name)), reason=unavailable(name) or ""))
              for name in names]
    return pytest.mark.parametrize("jail", params)


each_jail = jails()

needs_bwrap = pytest.mark.skipif(bool(unavailable("bwrap")), reason=unavailable("bwrap") or "")

needs_confining = pytest.mark.skipif(
    all(probe(name) for name in CONFINING),
    reason=f"no confining jail works here, so auto runs nothing; {INSTALL_BUBBLEWRAP}",
)
"""For tests of the default isolation (``auto``)."""


@needs_bwrap
def test_bubblewrap_is_the_strongest_jail_and_works_here() -> None:
    assert available_jails()[0] == "bwrap"
    assert choose_jail().name == "bwrap"


def test_auto_picks_only_a_confining_jail() -> None:
    confining = [name for name in CONFINING if probe(name) is None]
    if not confining:
        with pytest.raises(ToolFailed, match="apt-get install bubblewrap"):
            choose_jail()
    else:
        assert choose_jail().name == confining[0]


@each_jail
def test_a_snippet_returns_its_output_status_and_files(jail: str) -> None:
    result = run(
        "import sys\nprint('out', 6 * 7)\nprint('err', file=sys.stderr)\n"
        "open('answer.txt', 'w').write('42')\nopen('blob.bin', 'wb').write(bytes(range(256)))\nsys.exit(3)",
        isolation=jail,
    )
    assert result.stdout == "out 42\n"
    assert result.stderr == "err\n"
    assert result.exit_status == 3 and not result.ok and result.killed_by is None
    assert result.files["answer.txt"] == {"size": 2, "text": "42"}
    assert result.files["blob.bin"]["size"] == 256 and "base64" in result.files["blob.bin"]
    assert 0 < result.duration_s < 10
    for layer in ("rlimits", "wall-clock-kill", "process-group", "clean-env", "scratch-dir", "scratch-cap"):
        assert layer in result.isolation


def test_namespace_jails_name_their_layers() -> None:
    for name in CONFINING:
        if probe(name) is None:
            result = run("pass", isolation=name)
            assert {"net-namespace", "pid-namespace", "mount-namespace", "minimal-root", "read-only-system",
                    "no-host-home", "tmp-in-scratch"} <= set(result.isolation)
            assert result.not_isolated == ()
    if probe("rlimits") is None:
        result = run("pass", isolation="rlimits")
        assert "net-namespace" not in result.isolation and "pid-namespace" not in result.isolation


@each_jail
def test_a_traceback_starts_at_the_snippet(jail: str) -> None:
    result = run("x = 1\n\ndef f():\n    return 1 / 0\n\nf()", isolation=jail)
    assert result.exit_status == 1
    assert 'File "<snippet>", line 6' in result.stderr and "return 1 / 0" in result.stderr
    assert result.stderr.rstrip().endswith("ZeroDivisionError: division by zero")
    assert "<string>" not in result.stderr


@each_jail
def test_stdin_and_seed_files_reach_the_snippet(jail: str) -> None:
    code = (
        "import sys\nprint(open('data/in.txt').read().upper(), sys.stdin.read()[::-1])\n"
        "open('changed.txt','a').write('+')"
    )
    result = run(code, isolation=jail, stdin="abc", files={"data/in.txt": "seed", "changed.txt": "x", "same.txt": "s"})
    assert result.stdout == "SEED cba\n"
    # seeds left as they were are not "written"; a changed one is
    assert set(result.files) == {"changed.txt"} and result.files["changed.txt"]["text"] == "x+"


@each_jail
def test_environment_is_scrubbed(monkeypatch: pytest.MonkeyPatch, jail: str) -> None:
    monkeypatch.setenv("SMOL_TEST_SECRET", "hunter2")
    result = run("import os, json\nprint(json.dumps(dict(os.environ)))", isolation=jail)
    environment = json.loads(result.stdout)
    assert "SMOL_TEST_SECRET" not in environment and "SMOL_HOME" not in environment
    assert set(environment) <= {"PATH", "HOME", "TMPDIR", "LANG", "LD_LIBRARY_PATH", "PWD", "LC_CTYPE"}


@each_jail
def test_flooding_output_is_cut_and_killed(jail: str) -> None:
    result = run("while True:\n    print('x' * 1000)", isolation=jail, timeout_s=20)
    assert result.killed_by == "output_limit"
    assert result.duration_s < 10
    assert len(result.stdout) <= MAX_OUTPUT_BYTES + 100 and result.stdout.endswith("bytes]")


@each_jail
def test_cpu_limit_is_reported(jail: str) -> None:
    code = "import resource\nresource.setrlimit(resource.RLIMIT_CPU, (1, 2))\nwhile True:\n    pass"
    result = run(code, isolation=jail, timeout_s=20)
    assert result.killed_by == "cpu_limit"
    assert result.exit_status == -24


@needs_confining
def test_scratch_directory_is_removed_afterwards(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    result = run("import os\nos.makedirs('a/b')\nopen('a/b/c', 'w').write('x')\nos.chmod('a', 0)")
    assert result.ok and "a/b/c" in result.files
    assert list(tmp_path.iterdir()) == []


@needs_confining
def test_snippets_run_side_by_side() -> None:
    async def many() -> list:
        code = "import sys, time\ntime.sleep(0.2)\nprint(sys.stdin.read())"
        return await asyncio.gather(*(run_snippet(code, stdin=str(i)) for i in range(4)))

    assert [result.stdout for result in asyncio.run(many())] == ["0\n", "1\n", "2\n", "3\n"]


@needs_confining
def test_cancelling_a_request_kills_the_snippet(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    async def cancelled() -> None:
        task = asyncio.ensure_future(run_snippet("import time\ntime.sleep(60)", timeout_s=60))
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancelled())
    assert list(tmp_path.iterdir()) == []
    sleepers = [p for p in psutil.process_iter(["cmdline"]) if "time.sleep(60)" in " ".join(p.info["cmdline"] or [])]
    assert psutil.wait_procs(sleepers, timeout=5)[1] == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"code": ""}, "non-empty string"),
        ({"code": "x" * (MAX_CODE_BYTES + 1)}, "at most"),
        ({"code": "pass", "timeout_s": 0}, "timeout_s"),
        ({"code": "pass", "timeout_s": 10_000}, "timeout_s"),
        ({"code": "pass", "files": {"../up.txt": "x"}}, "relative path"),
        ({"code": "pass", "files": {"/etc/x": "x"}}, "relative path"),
        ({"code": "pass", "files": {"a": "x", "a/b": "y"}}, "cannot create file 'a/b'"),
        ({"code": "pass", "isolation": "docker"}, "no isolation 'docker'"),
        ({"code": "pass", "files": {"a": "x" * 10, "b": "y"}, "scratch_bytes": 10}, "more than the 10 bytes"),
    ],
)
def test_bad_requests_are_usage_errors(options: dict, message: str) -> None:
    code = options.pop("code")
    with pytest.raises(UsageError, match=message):
        run(code, **options)


@needs_confining
def test_tool_takes_plain_text_and_replies_with_json() -> None:
    question = Artifact.text("print(sum(range(10)))", attributes={"run": "r1"})
    reply = asyncio.run(SandboxTool().handle(None, None, question))
    assert not reply.is_error
    body = reply.as_json()
    assert body["stdout"] == "45\n" and body["exit_status"] == 0 and body["killed_by"] is None
    assert set(body) == {
        "stdout", "stderr", "exit_status", "duration_s", "files", "isolation", "killed_by", "scratch_bytes",
        "not_isolated",
    }
    assert body["not_isolated"] == [] and {"net-namespace", "minimal-root"} <= set(body["isolation"])
    assert reply.parents == (question.id,) and reply.attr("run") == "r1"


@needs_confining
def test_tool_takes_a_json_object_with_options() -> None:
    request = Artifact.json({"code": "print(input())", "stdin": "hi", "timeout_s": 5, "files": {"f": "x"}})
    body = asyncio.run(SandboxTool().handle(None, None, request)).as_json()
    assert body["stdout"] == "hi\n"


def test_tool_turns_bad_input_into_an_error_artifact() -> None:
    for request in (Artifact.text("   "), Artifact.json({"code": "pass", "timeout_s": -1})):
        reply = asyncio.run(SandboxTool().handle(None, None, request))
        assert reply.is_error
        assert "sandbox" in reply.error_message or "timeout_s" in reply.error_message


def test_sandbox_is_a_registered_unit_kind() -> None:
    kind = unit_kind("sandbox")
    assert kind.factory is SandboxTool and "code" in kind.inputs
    unit = create_unit("sandbox", isolation="rlimits")
    assert isinstance(unit, SandboxTool) and unit.isolation == "rlimits"


def smol(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smolcpu", *args], input=stdin, capture_output=True, text=True, timeout=60
    )


@needs_confining
def test_cli_runs_a_file(tmp_path: Path) -> None:
    script = tmp_path / "hello.py"
    script.write_text("import sys\nprint('hello from the sandbox')\nprint('warn', file=sys.stderr)\nsys.exit(4)\n")
    result = smol("sandbox", str(script))
    assert result.returncode == 4
    assert "hello from the sandbox" in result.stdout and "warn" in result.stdout
    assert "exit 4" in result.stdout and "minimal-root" in result.stdout


@needs_confining
def test_cli_reads_code_from_stdin_and_prints_json(tmp_path: Path) -> None:
    data = tmp_path / "in.txt"
    data.write_text("abc")
    result = smol("sandbox", "-", "--json", "--stdin", str(data), stdin="print(input()[::-1])")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["stdout"] == "cba\n"


@needs_confining
def test_cli_reports_a_kill_in_its_exit_status() -> None:
    result = smol("sandbox", "-", "--timeout", "0.5", stdin="import time\ntime.sleep(30)")
    assert result.returncode == 128 + 9
    assert "killed by timeout" in result.stdout


def test_cli_missing_file_is_a_clear_error() -> None:
    result = smol("sandbox", "/no/such/file.py")
    assert result.returncode == 2
    assert "no code file '/no/such/file.py'" in result.stderr
    assert "Traceback" not in result.stderr


@needs_confining
def test_written_files_are_capped() -> None:
    code = "for i in range(60):\n    open(f'f{i:02}.txt', 'w').write(str(i))\nopen('big.txt', 'w').write('y' * 10**6)"
    files = run(code).files
    assert files["big.txt"]["size"] == 10**6 and files["big.txt"]["truncated"] is True
    assert len(files["big.txt"]["text"]) == MAX_RETURNED_FILE_BYTES
    assert files["f00.txt"] == {"size": 1, "text": "0"}
    assert len(files) == MAX_RETURNED_FILES + 1 and "11 more files" in files["..."]["text"]
