"""How long ``smol check`` takes as programs grow: it should grow linearly with their size.

The program is SECTIONS labelled blocks of ten steps each, one after another, each with
what makes checking work: limits, ``back``, a jump to its own start, a nested ``match``, a
reference to a step of the block before it (ten references per 100 steps) and a ``select``
every fifth block. Measured for 1,000, 5,000 and 10,000 steps:

  front end   ``compile_source`` in this process: parse, declarations, compile, check
  smol check  the ``smol check FILE`` command, start-up of Python and imports included

Each is given as wall time and as CPU time (user + system): on a machine other work keeps
busy, the CPU time is what the same run takes on an idle one. Figures are medians of RUNS
runs; ``per 1k steps`` shows whether the cost is linear. Target: ``smol check`` on the
10,000-step program in at most 2 s.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench._report import report
from smolcpu.lang import compile_source

RUNS = 3
SIZES = (1_000, 5_000, 10_000)
TARGET_S = 2.0


def section(k: int) -> str:
    """Block ``s{k}``: ten steps, a match, a reference to block ``s{k-1}`` (none for the first)."""
    reads = f"[review <= s{k - 1}.draft.out]" if k > 1 else "review"
    if k % 5 == 0:
        return (
            f"select[s{k}]<2> <= (\n    draft => next | cancel\n    plan<3> => back | send\n"
            f"    {reads} => send | cancel\n    calc => next\n    fix<2> => next\n    check => send\n"
            "    tidy => next\n    note => next\n    grade => send | back\n    answer => send\n)"
        )
    return (
        f"switch[s{k}]<3> <= (\n    draft => next | cancel\n    plan<2> => next | back\n"
        f"    {reads} => next | send\n    calc => next\n    log => continue\n    check => continue | cancel\n"
        f"    fix => next | back * 2\n    tidy => next\n    grade => next | [s{k}.jump]\n"
        f"    out <= match <= (\n        error => [s{k}.jump]\n        done => send\n        default => send\n    )\n"
        "    answer => send\n)"
    )


def program(steps: int) -> str:
    """A program of ``steps`` steps (a multiple of ten), declarations first."""
    declarations = "use calc = math\nuse log = registers\nuse tidy = identity\n" + "".join(
        f'use {name} = llm "{name.title()}."\n' for name in ("draft", "plan", "review", "check", "fix", "grade", "answer", "note")
    )
    sections = [section(k) for k in range(steps // 10, 0, -1)]
    return declarations + "\nout <= " + " <= ".join(sections) + " <= in\n"


def front_end(source: str) -> tuple[float, float]:
    """Wall and CPU seconds of compiling and checking ``source`` in this process."""
    start, cpu = time.perf_counter(), time.process_time()
    compilation = compile_source(source, path="bench.smol")
    took, used = time.perf_counter() - start, time.process_time() - cpu
    assert compilation.ok, compilation.render(warnings=False)[:2000]
    return took, used


def command(path: Path) -> tuple[float, float]:
    """Wall and CPU seconds of ``smol check --quiet path``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "smolcpu", "check", "--quiet", str(path)], capture_output=True, text=True)
    took = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert done.returncode == 0, done.stderr[-2000:]
    return took, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def medians(measure: Callable[[], tuple[float, float]]) -> tuple[float, float, list[tuple[float, float]]]:
    """Median wall and CPU seconds of RUNS calls of ``measure``, and every figure."""
    figures = [measure() for _ in range(RUNS)]
    return statistics.median(f[0] for f in figures), statistics.median(f[1] for f in figures), figures


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="smol-bench-checker-"))
    rows, seconds = [], {}
    tiny = folder / "tiny.smol"
    tiny.write_text("out <= a <= in\n")
    start_wall, start_cpu, start_runs = medians(lambda: command(tiny))
    seconds["start_up"] = start_runs
    rows.append(("1 (start-up)", 1, "", "", "", start_wall, start_cpu))
    for steps in SIZES:
        source = program(steps)
        path = folder / f"p{steps}.smol"
        path.write_text(source)
        wall, cpu, inside_runs = medians(lambda: front_end(source))
        cli_wall, cli_cpu, cli_runs = medians(lambda: command(path))
        seconds[str(steps)] = {"front_end": inside_runs, "smol_check": cli_runs}
        rows.append((f"{steps:,}", len(source.splitlines()), wall, cpu, cpu / steps * 1000, cli_wall, cli_cpu))
    ten_k_wall, ten_k_cpu = rows[-1][-2], rows[-1][-1]
    report(
        "checker",
        f"smol check by program size (median of {RUNS}; load average {os.getloadavg()[0]:.1f})",
        ["steps", "lines", "front end s", "front end CPU s", "CPU s per 1k steps", "smol check s", "smol check CPU s"],
        rows,
        sizes=SIZES,
        runs=RUNS,
        seconds=seconds,
        target=f"smol check on {SIZES[-1]:,} steps <= {TARGET_S} s",
        met={"wall": ten_k_wall <= TARGET_S, "cpu": ten_k_cpu <= TARGET_S},
    )


if __name__ == "__main__":
    main()
