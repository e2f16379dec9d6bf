"""Vision units (and the embedder) on ONNX Runtime, 2 intra-op threads: latency, throughput, RSS.

Run: ``./smol bench neural_vision [--runs 5] [--batch 8]``. Side by side in one run, each
model in its own fresh process (so its RSS is its own): the classifier (EfficientNet-Lite0,
target ≤ 10 ms/image), the detector (YOLOX-Nano, target ≤ 25 ms/image) and the embedder,
with Smol's lean sessions (no CPU arena, no spinning after a run) against ONNX Runtime's
defaults, and batched throughput with the dynamic-batch files the conversions make (give
them with ``--classifier-batched`` / ``--detector-batched``; see smolcpu/models/conversions).
Data: the 30 COCO val2017 photographs of ../shared/bench/coco_sample; latencies are medians
over the images, then the median over ``--runs`` runs, interleaved run by run. A second
table (``neural_vision_stores``) sets the local vector store (sqlite-vec) against numpy in
RAM and the graph store (SQLite) against networkx, at ``--sizes`` items: query latency and
resident memory.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
from pathlib import Path
from typing import Any

from bench._report import report
from bench.neural_vision._measure import measure
from bench.neural_vision._stores import graph, vectors

SHARED = Path(__file__).resolve().parents[3] / "shared"
TARGETS = {"classify": 10.0, "detect": 25.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--classifier", default=str(SHARED / "models" / "efficientnet_lite0.onnx"))
    parser.add_argument("--detector", default=str(SHARED / "models" / "yolox_nano.onnx"))
    parser.add_argument("--embedder", default=str(SHARED / "models" / "all-MiniLM-L6-v2.onnx"))
    parser.add_argument("--classifier-batched", help="EfficientNet-Lite0 with a dynamic batch axis")
    parser.add_argument("--detector-batched", help="YOLOX-Nano with a dynamic batch axis")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000], help="store sizes to compare")
    args = parser.parse_args()
    vision(args)
    stores(args.sizes)


def _fresh(function: Any, *args: Any, **kwargs: Any) -> Any:
    """Run ``function`` in a fresh process, so the RSS it reports is its own."""
    with multiprocessing.get_context("spawn").Pool(1, maxtasksperchild=1) as pool:
        return pool.apply(function, args, kwargs)


def stores(sizes: list[int]) -> None:
    """Smol's SQLite stores against in-memory alternatives, at each size."""
    rows = []
    for size in sizes:
        for kind, backend, function in (
            ("vectors", "sqlite-vec", vectors),
            ("vectors", "numpy in RAM", vectors),
            ("graph", "sqlite", graph),
            ("graph", "networkx", graph),
        ):
            result = _fresh(function, backend, size)
            rows.append(
                [kind, backend, size, result["query_ms"], result["hybrid_ms"], result["load_s"], result["rss_mb"]]
            )
    report(
        "neural_vision_stores",
        "Vector and graph stores: Smol's SQLite against in-memory alternatives",
        ["store", "backend", "items", "query ms", "hybrid ms", "load s", "RSS MB"],
        rows,
        data="random unit 384-d vectors (seeded); random graph, 5 out-edges per node (seeded)",
        queries=(
            "vectors: top-10 of 50 random queries (hybrid adds an FTS5 text match); "
            "graph: 3-hop reachability from 50 nodes"
        ),
        note="medians over the queries; each row in a fresh process; RSS MB = growth over that process before loading",
    )


def vision(args: argparse.Namespace) -> None:
    """The vision units and the embedder: latency, throughput and RSS, lean sessions against defaults."""
    images = sorted(str(p) for p in (SHARED / "bench" / "coco_sample").glob("*.jpg"))
    if not images:
        raise SystemExit(f"the COCO photographs are missing: this benchmark reads {SHARED / 'bench' / 'coco_sample'}")
    for model in (args.classifier, args.detector, args.embedder):
        if not Path(model).is_file():
            raise SystemExit(f"model file {model} is missing (../shared/models, or give --classifier/--detector/--embedder)")
    configurations = [
        ("classify", args.classifier, True, "smol"),
        ("classify", args.classifier, False, "ORT"),
        ("detect", args.detector, True, "smol"),
        ("detect", args.detector, False, "ORT"),
        ("embed", args.embedder, True, "smol"),
        ("embed", args.embedder, False, "ORT"),
    ]
    if args.classifier_batched:
        configurations.append(("classify", args.classifier_batched, True, f"batch {args.batch}"))
    if args.detector_batched:
        configurations.append(("detect", args.detector_batched, True, f"batch {args.batch}"))
    measured: dict[int, list[dict[str, Any]]] = {index: [] for index in range(len(configurations))}
    for _ in range(args.runs):  # interleaved run by run, so the machine's drift falls on every row alike
        for index, (kind, model, lean, _label) in enumerate(configurations):
            measured[index].append(_fresh(measure, kind, model, images, lean=lean, batch=args.batch))
    rows = []
    for index, (kind, _model, _lean, label) in enumerate(configurations):
        runs = measured[index]
        median = {key: statistics.median(run[key] for run in runs if key in run) for key in runs[0]}
        target = TARGETS.get(kind)
        rows.append(
            [
                kind,
                label,
                median["model_ms"],
                median["e2e_ms"],
                f"≤{target:.0f}" if target else "-",
                median["serial_per_s"],
                median.get("batched_per_s", "-"),
                median["rss_serving_mb"] - median["rss_base_mb"],
                median["rss_serving_mb"],
            ]
        )
    report(
        "neural_vision",
        "Vision and embedding units on ONNX Runtime (2 threads)",
        ["unit", "session", "model ms", "e2e ms", "target", "serial/s", "batch/s", "model MB", "proc MB"],
        rows,
        models={"classify": args.classifier, "detect": args.detector, "embed": args.embedder},
        data=f"{len(images)} COCO val2017 images from ../shared/bench/coco_sample; 30 sentences for embed",
        runs=args.runs,
        batch=args.batch,
        seed="none (deterministic inputs)",
        note=(
            "ms are per item (image or sentence); e2e = decode + preprocess + model + postprocess; "
            "session smol = lean (no CPU arena, no spinning after a run), ORT = ONNX Runtime's defaults; "
            "batch N = the dynamic-batch file from smolcpu/models/conversions; model MB = RSS of the loaded, warmed "
            "model over a process with onnxruntime imported, proc MB = that process's whole RSS; "
            "a fresh process per run"
        ),
    )


if __name__ == "__main__":
    main()
