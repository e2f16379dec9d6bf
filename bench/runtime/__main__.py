"""Actor runtime throughput: Smol side by side with pykka and Ray local actors, in one run.

Patterns (a message is one delivery: a request and its reply are two):
  ping-pong   one unit requests another N times in a row (both in this process for Smol
              and pykka; Ray actors are processes of their own, so it is Ray's fastest case)
  fan-out     the driver requests FANOUT units at once and gathers the replies, R rounds
  worker      round trips to a unit in a worker process: one at a time, and WINDOW in flight
              (pykka has no process actors: not measured), on each event-loop setup of LOOPS
              (asyncio's loop, or uvloop in the worker and/or the caller), in turns
Smol runs with recording off (as benchmarks should); two extra rows show ping-pong with a
new artifact per request, recording off and on (into the default store: the file store as
shipped, with fsync), since recording must not slow the send path. The time the writer
thread then needs to finish at shutdown is in the JSON (fresh-on-flush-s), not in the rates.
Every message is the same small text artifact. Figures are medians of RUNS rounds
(RAY_RUNS for Ray, whose rounds are slow); ratios are Smol over the other.
Targets: in-process >= 10x Ray and >= pykka; worker round trips >= 10,000/s.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench._report import report
from bench.runtime._units import FreshPing, Ping, Pong
from smolcpu.artifact import Artifact
from smolcpu.runtime import ActorSystem, run

RUNS = 5
RAY_RUNS = 3
RECORD_RUNS = 3
PINGS = 5000
ROUNDS = 50
WORKER_TRIPS = 5000
WINDOW = 64
MESSAGE = Artifact.text("ping " * 10, origin="bench", role="bench")


async def _rate(messages: int, action: Callable[[], Awaitable[Any]]) -> float:
    start = time.perf_counter()
    await action()
    return messages / (time.perf_counter() - start)


def _sync_rate(messages: int, action: Callable[[], Any]) -> float:
    start = time.perf_counter()
    action()
    return messages / (time.perf_counter() - start)


async def _windowed(request: Callable[[], Awaitable[Any]], trips: int, window: int) -> None:
    async def lane(count: int) -> None:
        for _ in range(count):
            await request()

    await asyncio.gather(*(lane(trips // window) for _ in range(window)))


async def smol_figures(fanout: int) -> dict[str, list[float]]:
    figures: dict[str, list[float]] = {}
    async with ActorSystem(record=False) as system:
        await system.spawn("pong", Pong)
        ping = await system.spawn("ping", Ping)
        order = MESSAGE.derive(str(PINGS).encode())
        figures["ping-pong"] = [await _rate(2 * PINGS, lambda: ping.request(order, timeout=600)) for _ in range(RUNS)]
        units = [await system.spawn(f"fan-{i}", Pong) for i in range(fanout)]

        async def fan_rounds() -> None:
            for _ in range(ROUNDS):
                await asyncio.gather(*(unit.request(MESSAGE) for unit in units))

        figures["fan-out"] = [await _rate(2 * fanout * ROUNDS, fan_rounds) for _ in range(RUNS)]
    return figures


async def worker_round() -> tuple[float, float]:
    """One round of worker round trips (one at a time, then WINDOW in flight) to a fresh worker."""
    async with ActorSystem(record=False) as system:
        worker = await system.spawn("worker", Pong, process=True)
        await _windowed(lambda: worker.request(MESSAGE), WINDOW * 10, WINDOW)  # warm up both sides

        async def one_at_a_time() -> None:
            for _ in range(WORKER_TRIPS):
                await worker.request(MESSAGE)

        def windowed() -> Awaitable[None]:
            return _windowed(lambda: worker.request(MESSAGE), WORKER_TRIPS, WINDOW)

        return await _rate(WORKER_TRIPS, one_at_a_time), await _rate(WORKER_TRIPS, windowed)


LOOPS = {
    "asyncio": "asyncio loops (SMOL_UVLOOP=0)",
    "uvloop-worker": "uvloop in worker (default)",
    "uvloop": "uvloop both (runtime.run)",
}
"""The event-loop setups the worker rows compare (worker side, caller side), in turns each round."""


def worker_figures() -> dict[str, list[float]]:
    """Worker round trips for each setup of LOOPS, interleaved round by round (same machine load)."""
    figures: dict[str, list[float]] = {}
    for _ in range(RUNS):
        for setup in LOOPS:
            os.environ["SMOL_UVLOOP"] = "0" if setup == "asyncio" else "1"
            one, window = run(worker_round()) if setup == "uvloop" else asyncio.run(worker_round())
            figures.setdefault(f"worker/{setup}", []).append(one)
            figures.setdefault(f"worker-window/{setup}", []).append(window)
    os.environ.pop("SMOL_UVLOOP")
    return figures


async def recording_figures() -> dict[str, list[float]]:
    """Ping-pong with a new artifact per request, recording off and on (the default store:
    the file store as shipped, in a temporary SMOL_HOME)."""
    figures: dict[str, list[float]] = {}
    pings = PINGS // 10
    order = MESSAGE.derive(str(pings).encode())
    with tempfile.TemporaryDirectory() as folder:
        os.environ["SMOL_HOME"] = folder
        os.environ.pop("SMOL_STORE", None)
        os.environ.pop("SMOL_INDEX", None)
        for key, record in (("fresh-off", False), ("fresh-on", True)):
            async with ActorSystem(record=record) as system:
                await system.spawn("pong", Pong)
                ping = await system.spawn("ping", FreshPing)
                figures[key] = [
                    await _rate(2 * pings, lambda: ping.request(order, timeout=600)) for _ in range(RECORD_RUNS)
                ]
                flush_start = time.perf_counter()
            figures[f"{key}-flush-s"] = [time.perf_counter() - flush_start]
    return figures


def pykka_figures(fanout: int) -> dict[str, list[float]]:
    import pykka

    class PykkaPong(pykka.ThreadingActor):
        def on_receive(self, message: Any) -> Any:
            return message

    class PykkaPing(pykka.ThreadingActor):
        def __init__(self, pong: Any) -> None:
            super().__init__()
            self.pong = pong

        def on_receive(self, message: Any) -> Any:
            for _ in range(PINGS):
                self.pong.ask(message)
            return message

    try:
        ping = PykkaPing.start(PykkaPong.start())
        figures = {"ping-pong": [_sync_rate(2 * PINGS, lambda: ping.ask(MESSAGE)) for _ in range(RUNS)]}
        units = [PykkaPong.start() for _ in range(fanout)]

        def fan_rounds() -> None:
            for _ in range(ROUNDS):
                pykka.get_all([unit.ask(MESSAGE, block=False) for unit in units])

        figures["fan-out"] = [_sync_rate(2 * fanout * ROUNDS, fan_rounds) for _ in range(RUNS)]
    finally:
        pykka.ActorRegistry.stop_all()
    return figures


def ray_figures(fanout: int) -> dict[str, list[float]]:
    import ray

    @ray.remote(num_cpus=0)
    class RayPong:
        def ping(self, message: Any) -> Any:
            return message

    @ray.remote(num_cpus=0)
    class RayPing:
        def run(self, pong: Any, count: int, message: Any) -> int:
            for _ in range(count):
                ray.get(pong.ping.remote(message))
            return count

    pings = PINGS // 10
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    try:
        pong = RayPong.remote()
        ping = RayPing.remote()
        ray.get(ping.run.remote(pong, 1, MESSAGE))
        figures = {
            "ping-pong": [
                _sync_rate(2 * pings, lambda: ray.get(ping.run.remote(pong, pings, MESSAGE))) for _ in range(RAY_RUNS)
            ]
        }
        units = [RayPong.remote() for _ in range(fanout)]
        ray.get([unit.ping.remote(MESSAGE) for unit in units])
        rounds = max(1, ROUNDS // 10)

        def fan_rounds() -> None:
            for _ in range(rounds):
                ray.get([unit.ping.remote(MESSAGE) for unit in units])

        figures["fan-out"] = [_sync_rate(2 * fanout * rounds, fan_rounds) for _ in range(RAY_RUNS)]
        trips = WORKER_TRIPS // 10

        def one_at_a_time() -> None:
            for _ in range(trips):
                ray.get(pong.ping.remote(MESSAGE))

        def windowed() -> None:
            for _ in range(trips // WINDOW):
                ray.get([pong.ping.remote(MESSAGE) for _ in range(WINDOW)])

        figures["worker"] = [_sync_rate(trips, one_at_a_time) for _ in range(RAY_RUNS)]
        figures["worker-window"] = [_sync_rate(trips // WINDOW * WINDOW, windowed) for _ in range(RAY_RUNS)]
    finally:
        ray.shutdown()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(prog="smol bench runtime", description=__doc__.splitlines()[0])
    parser.add_argument("--fanout", type=int, default=100, help="units in the fan-out pattern")
    parser.add_argument(
        "--ray-fanout", type=int, default=None,
        help="Ray actors in the fan-out (default: --fanout; each Ray actor is a process, slow to start)",
    )  # fmt: skip
    args = parser.parse_args()
    ray_fanout = args.ray_fanout or args.fanout

    smol = asyncio.run(smol_figures(args.fanout))
    smol.update(worker_figures())
    recorded = asyncio.run(recording_figures())
    pykka = pykka_figures(args.fanout)
    ray = ray_figures(ray_fanout)

    def median(figures: dict[str, list[float]], key: str) -> float | None:
        return statistics.median(figures[key]) if key in figures else None

    def ratio(a: float | None, b: float | None) -> str:
        return f"{a / b:,.1f}x" if a and b else "—"

    patterns = [
        ("ping-pong", "ping-pong, in process (msg/s)", ">= 10x Ray, >= pykka"),
        ("fan-out", f"fan-out/fan-in to {args.fanout} units (msg/s)", ">= 10x Ray, >= pykka"),
    ]
    for setup, loops in LOOPS.items():
        patterns.append((f"worker/{setup}", f"worker trips, 1 at a time, {loops} (/s)", ">= 10,000/s"))
        patterns.append((f"worker-window/{setup}", f"worker trips, {WINDOW} in flight, {loops} (/s)", ">= 10,000/s"))
    rows = []
    for key, title, target in patterns:
        s, p, r = median(smol, key), median(pykka, key), median(ray, key.partition("/")[0])
        rows.append((title, s, p if p is not None else "—", r, ratio(s, p), ratio(s, r), target))
    off, on = median(recorded, "fresh-off"), median(recorded, "fresh-on")
    rows.append(("ping-pong, new artifacts, recording off (msg/s)", off, "—", "—", "—", "—", ""))
    rows.append(("ping-pong, new artifacts, recording on (msg/s)", on, "—", "—", "—", "—", f"on/off {ratio(on, off)}"))
    report(
        "runtime",
        "Actor runtime: Smol vs pykka vs Ray local actors (medians)",
        ["pattern", "smol", "pykka", "ray", "smol/pykka", "smol/ray", "target"],
        rows,
        runs=RUNS,
        ray_runs=RAY_RUNS,
        fanout=args.fanout,
        ray_fanout=ray_fanout,
        message_bytes=len(MESSAGE.to_bytes()),
        raw={"smol": smol, "smol_recording": recorded, "pykka": pykka, "ray": ray},
    )


if __name__ == "__main__":
    main()
