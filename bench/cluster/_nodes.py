"""What both workloads of bench/cluster share: the modes, a Ray of 1 or 2 nodes on this machine,
the resident memory of a process tree, and the latency figures of a batch of runs."""

from __future__ import annotations

import statistics
from typing import Any

import psutil

MODES = ("embedded", "ray, 1 node", "ray, 2 nodes")
OBJECT_STORE_BYTES = 80 * 1024**2


def nodes_of(mode: str) -> int:
    """How many Ray nodes ``mode`` starts (0: embedded)."""
    return 0 if mode == "embedded" else int(mode.split()[1])


def start_ray(nodes: int) -> Any:
    """A Ray of ``nodes`` nodes on this machine, 2 CPUs in all (the driver connected to it);
    the cluster handle, if any."""
    import ray

    if nodes == 1:
        ray.init(
            address="local", num_cpus=2, include_dashboard=False, object_store_memory=OBJECT_STORE_BYTES,
            log_to_driver=False,
        )  # fmt: skip
        return None
    from ray.cluster_utils import Cluster

    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "object_store_memory": OBJECT_STORE_BYTES, "include_dashboard": False},
    )
    for _ in range(nodes - 1):
        cluster.add_node(num_cpus=1, object_store_memory=OBJECT_STORE_BYTES)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False)
    return cluster


def stop_ray(cluster: Any) -> None:
    """Shut down what :func:`start_ray` started."""
    import ray

    ray.shutdown()
    if cluster is not None:
        cluster.shutdown()


def resident_mb() -> float:
    """Resident memory of this process and every process under it, in MB."""
    me = psutil.Process()
    total = 0
    for process in [me, *me.children(recursive=True)]:
        try:
            total += process.memory_info().rss
        except psutil.Error:
            continue
    return total / 1024**2


def latencies(seconds: list[float], wall: float, steps: float) -> dict[str, float]:
    """Runs per second, p50/p99 latency and latency per step of runs that took ``seconds``
    (``wall`` in all, ``steps`` steps each, or on median)."""
    ordered = sorted(seconds)
    return {
        "runs_per_s": len(seconds) / wall,
        "p50_ms": statistics.median(ordered) * 1e3,
        "p99_ms": ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))] * 1e3,
        "ms_per_step": statistics.median(ordered) * 1e3 / steps,
    }


__all__ = ["MODES", "OBJECT_STORE_BYTES", "latencies", "nodes_of", "resident_mb", "start_ray", "stop_ray"]
