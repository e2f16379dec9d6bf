"""BFCL's own harness against ``smol serve``, on a bounded slice of simple_python.

``smol serve`` runs on loopback with the raw model; BFCL (bfcl-eval, in its own environment)
generates through its ``OpenAICompletionsHandler`` in function-calling mode, pointed at it
with ``OPENAI_BASE_URL``, and scores with its own ``evaluate``. BFCL does not know the model,
so the driver adds one entry to its model registry (see ``_driver``). Prints a table and
writes bench/results/bfcl.json.

    ./smol bench bfcl [--items 20] [--seed S] [--model qwen2.5-coder-1.5b] [--seconds 1800]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._report import report
from bench.bfcl._environment import BFCL, bfcl_python, category_size
from bench.bfcl._slice import CATEGORY, choose_ids, read_score, write_ids
from bench.server.__main__ import smol_server
from smolcpu.errors import UsageError

DRIVER = Path(__file__).resolve().parent / "_driver.py"


def run_bfcl(python: Path, root: Path, base: str, model: str, seconds: float) -> subprocess.CompletedProcess[str]:
    """BFCL's generate and evaluate on the ids under ``root``, against the server at ``base``.

    Raises:
        UsageError: BFCL did not finish within ``seconds``.
    """
    env = os.environ | {"OPENAI_BASE_URL": base, "OPENAI_API_KEY": "unused", "BFCL_PROJECT_ROOT": str(root)}
    command = ["nice", "-n", "10", str(python), str(DRIVER), f"smol-{model}-FC", model]
    try:
        return subprocess.run(command, env=env, cwd=root, capture_output=True, text=True, timeout=seconds, check=False)
    except subprocess.TimeoutExpired as exc:
        raise UsageError(f"BFCL did not finish within {seconds:.0f}s (--seconds); try fewer --items") from exc


def main() -> None:
    parser = argparse.ArgumentParser(prog="smol bench bfcl", description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=20, help="how many simple_python items")
    parser.add_argument("--seed", type=int, default=None, help="draw the items at random with this seed (default: the first ones)")
    parser.add_argument("--model", default="qwen2.5-coder-1.5b", help="the raw model smol serve answers with")
    parser.add_argument("--seconds", type=float, default=1800, help="time bound of BFCL's run")
    options = parser.parse_args()
    python = bfcl_python()
    ids = choose_ids(category_size(python, CATEGORY), options.items, options.seed)
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="smol-bfcl-") as folder:
        root = Path(folder)
        write_ids(root, ids)
        began = time.perf_counter()
        with smol_server(options.model) as base:
            done = run_bfcl(python, root, base, options.model, options.seconds)
        wall = time.perf_counter() - began
        if done.returncode != 0:
            raise UsageError(f"BFCL failed (exit {done.returncode}): {(done.stderr or done.stdout).strip()[-800:]}")
        score = read_score(root)
    report(
        "bfcl",
        f"BFCL's own harness ({BFCL}) against smol serve: {CATEGORY}, {len(ids)} items, load {os.getloadavg()[0]:.1f}",
        ["model", "category", "items", "correct", "accuracy", "wall s"],
        [[options.model, CATEGORY, score["total"], score["correct"], score["accuracy"], wall]],
        model=options.model,
        harness=BFCL,
        mode="OpenAICompletionsHandler, function calling, OPENAI_BASE_URL at smol serve",
        category=CATEGORY,
        ids=ids,
        seed=options.seed,
        load_average={"start": load_start, "end": os.getloadavg()[0]},
        score=score,
    )


if __name__ == "__main__":
    try:
        main()
    except UsageError as exc:
        sys.exit(f"error: {exc}")
