"""The stores against their in-memory alternatives, each in a fresh process: latency and RSS.

Vectors: sqlite-vec (Smol's local store) against a numpy matrix searched by brute force.
Graph: SQLite recursive queries (Smol's local store) against networkx in memory.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.neural_vision._measure import median_ms, rss_mb
from smolcpu.units.stores import LocalGraph, LocalVectors

DIM = 384
QUERIES = 50
CHUNK = 1000
EDGES_PER_NODE = 5
WORDS = ["cat", "budget", "paris", "python", "launch", "museum", "dog", "revenue", "plan", "tower"]


def _vectors(count: int, seed: int) -> np.ndarray:
    matrix = np.random.default_rng(seed).normal(size=(count, DIM)).astype(np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def vectors(backend: str, count: int) -> dict[str, Any]:
    """Load ``count`` random unit vectors, then time top-10 searches; RSS over the process before."""
    queries = list(_vectors(QUERIES, seed=1))
    base = rss_mb()
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        if backend == "sqlite-vec":
            store = LocalVectors(Path(folder) / "v.sqlite")
            for first in range(0, count, CHUNK):
                chunk = _vectors(min(CHUNK, count - first), seed=first)
                store.add_many(
                    [
                        {
                            "key": f"k{first + i}",
                            "vector": vector,
                            "text": f"note about {WORDS[(first + i) % len(WORDS)]}",
                        }
                        for i, vector in enumerate(chunk)
                    ]
                )
            load_s = time.perf_counter() - start
            search_ms = median_ms(lambda q: store.search(q, k=10), queries)
            hybrid_ms = median_ms(lambda q: store.search(q, text="budget plan", k=10), queries)
        else:
            matrix = np.concatenate(
                [_vectors(min(CHUNK, count - first), seed=first) for first in range(0, count, CHUNK)]
            )
            load_s = time.perf_counter() - start
            search_ms = median_ms(lambda q: np.argpartition(-(matrix @ q), 10)[:10], queries)
            hybrid_ms = float("nan")
        return {"load_s": load_s, "query_ms": search_ms, "hybrid_ms": hybrid_ms, "rss_mb": rss_mb() - base}


def _edges(nodes: int, first: int) -> list[tuple[str, str]]:
    targets = np.random.default_rng(first).integers(0, nodes, (CHUNK, EDGES_PER_NODE))
    return [(f"n{first + i}", f"n{int(j)}") for i, row in enumerate(targets[: nodes - first]) for j in row]


def graph(backend: str, nodes: int) -> dict[str, Any]:
    """A random graph (``nodes`` nodes, 5 edges each); time 3-hop reachability; RSS over the process before."""
    starts = [f"n{int(i)}" for i in np.random.default_rng(0).integers(0, nodes, QUERIES)]
    base = rss_mb()
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        if backend == "sqlite":
            store = LocalGraph(Path(folder) / "g.sqlite")
            for first in range(0, nodes, CHUNK):
                store.add_edges(_edges(nodes, first))
            load_s = time.perf_counter() - start
            reach_ms = median_ms(lambda n: store.reachable(n, depth=3), starts)
        else:
            import networkx

            store = networkx.DiGraph()
            for first in range(0, nodes, CHUNK):
                store.add_edges_from(_edges(nodes, first))
            load_s = time.perf_counter() - start
            reach_ms = median_ms(lambda n: networkx.single_source_shortest_path_length(store, n, cutoff=3), starts)
        return {"load_s": load_s, "query_ms": reach_ms, "hybrid_ms": float("nan"), "rss_mb": rss_mb() - base}
