"""Peak total resident memory with every neural unit loaded, through Lifecycle: one worker per
model against the ONNX models sharing one worker.

For each LLM (Qwen2.5-Coder 1.5B, then 0.5B, both Q4_K_M) and each layout, Lifecycle starts
the LLM, the classifier (EfficientNet-Lite0), the detector (YOLOX-Nano) and the embedder
(MiniLM) in worker processes, then runs one request on each (a greedy 64-token chat, one
COCO val2017 image classified and detected, one sentence embedded). Layouts: ``separate``,
each model in a worker of its own (what Lifecycle did before), and ``shared``, the three
ONNX models in one ``onnx`` worker (Lifecycle's default). Memory is what this process and
its workers hold resident together, every page counted once (Lifecycle's measure: private
pages plus each shared file once; PSS would split a model file that another program maps
too), sampled every 200 ms through loading and inference; the figure is the peak, median
over the runs, and the runs of the two layouts alternate. Targets: 1.5B set <= 2.0 GB,
0.5B set <= 1.0 GB (GB = 2^30 bytes). The budget is lifted so that nothing is evicted.

    ./smol bench neural_memory [--runs 3] [--models qwen2.5-coder-1.5b,qwen2.5-coder-0.5b]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from pathlib import Path

from bench._report import report
from smolcpu import config
from smolcpu.artifact import Artifact
from smolcpu.models import model_path
from smolcpu.runtime import ActorSystem
from smolcpu.vm import Lifecycle, WorkerSpec

GB = 1024**3
MB = 1024**2
TARGETS = {"qwen2.5-coder-1.5b": 2.0 * GB, "qwen2.5-coder-0.5b": 1.0 * GB}
IMAGE = Path(config.models_mirror()).parent / "bench" / "coco_sample" / "000000000139.jpg"
PROMPT = "Write a haiku about remembering things."
SEED = 7
SAMPLE_S = 0.2
KINDS = ("llm", "classify", "detect", "embed")
ONNX = ("classify", "detect", "embed")
LAYOUTS = {"separate": {}, "shared": {"onnx": ONNX}}


def requests() -> dict[str, Artifact]:
    return {
        "llm": Artifact.json(
            {"messages": [{"role": "user", "content": PROMPT}], "max_tokens": 64, "temperature": 0.0, "seed": SEED}
        ),
        "classify": Artifact.json({"image": str(IMAGE)}),
        "detect": Artifact.json({"image": str(IMAGE)}),
        "embed": Artifact.text("A person is standing in a kitchen next to a stove."),
    }


async def measure(model: str, shared: dict[str, tuple[str, ...]]) -> dict[str, float]:
    """One run: load the four units, ask each once; the peak, each worker's memory and the ONNX models' (bytes)."""
    os.environ["SMOL_LLM_MODEL"] = str(model_path(model))  # what the LLM worker process loads
    specs = {"llm": WorkerSpec("llm", "smolcpu.units.neural:LLM", model=model)}
    async with (
        ActorSystem(record=False) as system,
        Lifecycle(system, specs=specs, shared=shared, budget=8 * GB, sample_every=SAMPLE_S, status=False) as lifecycle,
    ):
        started = time.perf_counter()
        for kind in KINDS:
            await lifecycle.ref(kind)
        loaded = time.perf_counter() - started
        after_load = lifecycle.sample()
        for kind, artifact in requests().items():
            reply = await lifecycle.request(kind, artifact, timeout=config.LLM_TIMEOUT_S)
            if reply.is_error:
                raise SystemExit(f"{kind} failed: {reply.error_message}")
        final = lifecycle.sample()
        workers = {name: max(after_load.workers[name], final.workers[name]) for name in final.workers}
        return {
            "peak": lifecycle.peak,
            "main": final.main,
            "load_s": loaded,
            "processes": 1 + len(workers),
            "llm": workers.pop("llm"),
            "onnx": sum(workers.values()),
            **workers,
        }


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.neural_memory")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--models", default=",".join(TARGETS))
    args = parser.parse_args()
    if not IMAGE.is_file():
        raise SystemExit(f"the COCO sample image {IMAGE} is missing (../shared/bench)")
    rows, figures = [], {}
    for model in args.models.split(","):
        runs: dict[str, list[dict[str, float]]] = {layout: [] for layout in LAYOUTS}
        for _ in range(args.runs):
            for layout, shared in LAYOUTS.items():
                runs[layout].append(asyncio.run(measure(model, shared)))
        target = TARGETS.get(model, config.MEMORY_BUDGET_BYTES)
        peaks = {layout: statistics.median(run["peak"] for run in done) for layout, done in runs.items()}
        for layout, done in runs.items():
            median = {key: statistics.median(run[key] for run in done) for key in ("llm", "onnx", "main", "processes")}
            rows.append(
                [
                    model.removeprefix("qwen2.5-coder-"),
                    layout,
                    f"{median['processes']:.0f}",
                    *(f"{median[key] / MB:,.0f}" for key in ("llm", "onnx", "main")),
                    f"{peaks[layout] / GB:.3f}",
                    f"{target / GB:.1f}",
                    f"{peaks[layout] / target:.2f}" + ("" if peaks[layout] <= target else " over"),
                    f"{peaks[layout] / peaks['separate']:.2f}",
                ]
            )
        figures[model] = runs
    report(
        "neural_memory",
        f"peak resident memory (MB/GB), 4 neural units loaded + 1 request each, median of {args.runs}",
        ["LLM", "layout", "processes", "llm", "onnx", "main", "peak GB", "target", "ratio", "vs separate"],
        rows,
        models={"classify": "efficientnet-lite0", "detect": "yolox-nano", "embed": "minilm"},
        data={"image": IMAGE.name, "prompt": PROMPT, "seed": SEED, "max_tokens": 64},
        memory="resident, every page once, over the bench process and its workers, sampled every 200 ms",
        layouts={layout: shared or "one worker per model" for layout, shared in LAYOUTS.items()},
        load_s={
            model: {layout: statistics.median(run["load_s"] for run in done) for layout, done in runs.items()}
            for model, runs in figures.items()
        },
        runs=figures,
        threads={"llm": config.LLM_THREADS, "onnx": config.ONNX_THREADS},
        context=config.LLM_CONTEXT,
    )


if __name__ == "__main__":
    main()
