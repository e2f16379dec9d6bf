"""Coverage-guided fuzzing (atheris) of Smol's parsers and decoders, bounded in time.

    ./smol bench fuzz                        # every target, 60 s each
    ./smol bench fuzz --seconds 300 flow     # one target, longer

Each target (``_targets.py``) runs in its own process under libFuzzer, from a corpus kept in
``bench/results/fuzz/corpus/TARGET`` (seeded from the language corpus, the examples and a few
artifacts, and grown by every run). The table gives the inputs tried, their rate, the edges of
Smol's code covered and the findings; a finding's input is kept in
``bench/results/fuzz/findings/`` to replay with ``python -m bench.fuzz._atheris TARGET FILE``.
Where atheris does not install, the hypothesis side of the same targets still runs in the
test suite.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time

from bench._report import RESULTS, report
from bench.fuzz._targets import TARGETS, seeds

HERE = RESULTS / "fuzz"
INPUT_TIMEOUT_S = 10
"""One input running longer than this is a finding (a hang)."""
RSS_LIMIT_MB = 1536
"""One input taking more memory than this is a finding (within the 2 GB budget)."""

_PROGRESS = re.compile(r"#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)")
_UNCAUGHT = re.compile(r"=== Uncaught Python exception: ===\n(.+)")
_WRITTEN = re.compile(r"Test unit written to (\S+)")


def fuzz(name: str, seconds: int) -> list[object]:
    """Run target ``name`` for ``seconds``; its row of the table."""
    corpus, findings = HERE / "corpus" / name, HERE / "findings"
    corpus.mkdir(parents=True, exist_ok=True)
    findings.mkdir(parents=True, exist_ok=True)
    for number, seed in enumerate(seeds(name)):
        (corpus / f"seed-{number}").write_bytes(seed)
    command = [
        sys.executable, "-m", "bench.fuzz._atheris", name,
        f"-max_total_time={seconds}", f"-timeout={INPUT_TIMEOUT_S}", f"-rss_limit_mb={RSS_LIMIT_MB}",
        f"-artifact_prefix={findings}/{name}-", str(corpus),
    ]  # fmt: skip
    began = time.monotonic()
    finished = subprocess.run(command, capture_output=True, text=True, errors="replace", cwd=RESULTS.parent.parent)
    took = time.monotonic() - began
    log = finished.stdout + finished.stderr
    (HERE / f"{name}.log").write_text(log)
    progress = _PROGRESS.findall(log)
    runs, edges, features, size = (int(group) for group in progress[-1]) if progress else (0, 0, 0, 0)
    found = _WRITTEN.findall(log)
    if finished.returncode != 0 and not found:
        uncaught = _UNCAUGHT.search(log)
        found = [f"{uncaught.group(1) if uncaught else f'exit {finished.returncode}'}, see {HERE / f'{name}.log'}"]
    return [name, round(took, 1), runs, round(runs / took, 1), edges, features, size, len(found), " ".join(found)]


def main() -> None:
    parser = argparse.ArgumentParser(prog="smol bench fuzz", description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", metavar="TARGET", help=f"default: all of {', '.join(TARGETS)}")
    parser.add_argument("--seconds", type=int, default=60, help="seconds per target (default 60)")
    args = parser.parse_args()
    unknown = sorted(set(args.targets) - set(TARGETS))
    if unknown:
        parser.error(f"no target {', '.join(unknown)}; there are {', '.join(TARGETS)}")
    try:
        import atheris  # noqa: F401
    except ImportError:
        sys.exit("atheris is not installed here (pip install atheris; wheels for Linux x86-64, CPython 3.11)")
    rows = [fuzz(name, args.seconds) for name in args.targets or TARGETS]
    report(
        "fuzz",
        f"atheris, {args.seconds} s a target",
        ["target", "seconds", "inputs", "inputs/s", "edges", "features", "corpus", "findings", "finding inputs"],
        rows,
    )


if __name__ == "__main__":
    main()
