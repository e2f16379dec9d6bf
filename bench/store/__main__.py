"""Artifact store throughput: how fast can a run record its messages?

Every message of a run is put into the store, so ``put`` sits behind the runtime's
recorder. Side by side in one run: the filesystem store as shipped (temp file, fsync,
rename, index row), the same without fsync, a whole batch with ``put_many`` (one index
transaction: how the recorder process stores), the index alone, and encoding alone; then
``get`` by id and ``smol trace`` rendering of a whole run. Medians of RUNS rounds.
Artifacts: N text payloads of SIZE bytes (a typical message), seed 0, one run id.
"""

from __future__ import annotations

import contextlib
import os
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from rich.console import Console

from bench._report import median_of, report
from smolcpu.artifact import Artifact, FileStore, RunIndex
from smolcpu.cli._runs import trace_tree

N = 500
SIZE = 400
RUNS = 5
SEED = 0


def messages(rng: random.Random, run: str) -> list[Artifact]:
    """A chain of N messages with some fan-out, as a run would make."""
    made: list[Artifact] = []
    for i in range(N):
        text = "".join(rng.choice("abcdefghij klmnop") for _ in range(SIZE))
        parents = [rng.choice(made)] if made else []
        meta = {"origin": f"unit-{i % 7}", "role": "worker", "attributes": {"run": run}}
        made.append(Artifact.text(text, parents=parents, **meta))
    return made


def per_second(action: Callable[[Path, list[Artifact]], None]) -> Callable[[], float]:
    rng = random.Random(SEED)

    def measure() -> float:
        batch = messages(rng, f"run-{rng.random()}")
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            action(Path(folder), batch)
            return len(batch) / (time.perf_counter() - start)

    return measure


def put_all(*, fsync: bool) -> Callable[[Path, list[Artifact]], None]:
    def action(folder: Path, batch: list[Artifact]) -> None:
        with RunIndex(folder / "index.sqlite") as index:
            store = FileStore(folder / "artifacts", index=index, fsync=fsync)
            for artifact in batch:
                store.put(artifact)

    return action


def put_batched(folder: Path, batch: list[Artifact]) -> None:
    with RunIndex(folder / "index.sqlite") as index:
        FileStore(folder / "artifacts", index=index).put_many(batch)


def index_only(folder: Path, batch: list[Artifact]) -> None:
    with RunIndex(folder / "index.sqlite") as index:
        for artifact in batch:
            index.record(artifact, "key")


def encode_only(folder: Path, batch: list[Artifact]) -> None:
    for artifact in batch:
        artifact.to_json().encode()


@contextlib.contextmanager
def filled_store(run: str) -> Iterator[tuple[FileStore, list[Artifact]]]:
    """A store holding one run's N messages (set-up, not timed)."""
    batch = messages(random.Random(SEED), run)
    with tempfile.TemporaryDirectory() as folder, RunIndex(Path(folder) / "index.sqlite") as index:
        store = FileStore(Path(folder) / "artifacts", index=index, fsync=False)
        for artifact in batch:
            store.put(artifact)
        yield store, batch


def gets_per_second() -> float:
    with filled_store("run-get") as (store, batch):
        start = time.perf_counter()
        for artifact in batch:
            store.get(artifact.id)
        return len(batch) / (time.perf_counter() - start)


def traced_per_second() -> float:
    with filled_store("run-trace") as (store, batch), open(os.devnull, "w") as sink:
        start = time.perf_counter()
        Console(file=sink, width=200).print(trace_tree("run-trace", index=store.index))
        return len(batch) / (time.perf_counter() - start)


def main() -> None:
    cases = [
        ("put, fs store as shipped (fsync + rename + index)", per_second(put_all(fsync=True))),
        ("put, fs store without fsync", per_second(put_all(fsync=False))),
        ("put_many, one batch (as the recorder process does)", per_second(put_batched)),
        ("index row only (SQLite WAL)", per_second(index_only)),
        ("encode only (JSON form)", per_second(encode_only)),
        ("get by id (index lookup, read, verify)", gets_per_second),
        ("smol trace of one run (artifacts drawn)", traced_per_second),
    ]
    rows: list[list[object]] = []
    shipped = 0.0
    for name, measure in cases:
        median, figures = median_of(RUNS, measure)
        shipped = shipped or median
        rows.append([name, median, f"{median / shipped:.1f}×", f"{min(figures):,.0f}–{max(figures):,.0f}"])
    report(
        "store",
        f"Artifact store: {N} text artifacts of {SIZE} B per round, median of {RUNS}",
        ["operation", "per second", "vs shipped put", "range"],
        rows,
        n=N,
        payload_bytes=SIZE,
        runs=RUNS,
        seed=SEED,
    )


if __name__ == "__main__":
    main()
