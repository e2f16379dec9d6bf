"""The Ray backend on a real two-node Ray cluster on this machine, with artifacts in S3 (moto).

Slow: the cluster takes seconds to start. The program and the executor are the ordinary ones;
only the placement sends their units to Ray actors.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest

from smolcpu.artifact import Artifact, RunIndex, open_store
from smolcpu.errors import RequestTimeout, UnitError, UnitStopped
from smolcpu.lang import compile_source
from smolcpu.runtime import ActorSystem, KindPlacement, Placement
from smolcpu.vm import Executor, FirstChooser

ray = pytest.importorskip("ray", reason="the cluster backend needs the ray extra: pip install 'smolcpu[ray]'")
pytestmark = pytest.mark.slow

BALLAST = "smolcpu.testing:Ballast"
PROGRAM = """use run = sandbox
use calc = math
use twice = math
out <= switch <= (
    out <= join <= (
        out <= calc <= in
        out <= twice <= in
    )
    run => next
) <= in
"""
"""Two math steps at once (a fan-out over the replicas), then their results, a Python list, in the sandbox."""


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """Two Ray nodes on this machine (one CPU each; the second labelled zone=b), small object stores."""
    from ray.cluster_utils import Cluster

    store = 80 * 1024**2
    made = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "object_store_memory": store, "include_dashboard": False},
    )
    made.add_node(num_cpus=1, object_store_memory=store, labels={"zone": "b"})
    made.wait_for_nodes()
    ray.init(address=made.address, log_to_driver=False)
    yield made
    ray.shutdown()
    made.shutdown()


def placed(**kinds: KindPlacement) -> Placement:
    return Placement("auto", kinds)


def events(system: ActorSystem, name: str) -> list[str]:
    return [event.as_json()["event"] for event in system.events if event.attr("unit") == name]


async def test_a_program_runs_over_two_nodes_and_its_trace_is_in_s3(
    cluster: Any, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMOL_STORE", f"s3://{bucket}/runs")
    placement = placed(
        math=KindPlacement(replicas=2, cpus=1),  # one CPU a node: Ray must put them on different nodes
        sandbox=KindPlacement(cpus=0, labels={"zone": "b"}),
    )
    async with ActorSystem(record=False, cluster=placement) as system:
        async with Executor(compile_source(PROGRAM).runnable(), system=system, chooser=FirstChooser()) as executor:
            result = await executor.run(Artifact.text("6 * 7", origin="test", role="input"))
        started = {e.attr("unit"): e.as_json() for e in system.events if e.attr("event") == "started"}
    assert result.ok, result.reason
    assert result.output.as_json()["exit_status"] == 0
    where = {name.rsplit(".", 1)[-1].split("(")[0]: event for name, event in started.items()}  # sandbox(network=…)
    assert len(set(where["math"]["nodes"])) == 2
    zone_b = {node["NodeID"] for node in ray.nodes() if node.get("Labels", {}).get("zone") == "b"}
    assert set(where["sandbox"]["nodes"]) <= zone_b
    assert os.getpid() not in where["math"]["pids"] + where["sandbox"]["pids"]
    store = open_store()
    try:
        trace = store.index.artifacts(result.run_id)
        steps = {record.origin.rsplit(".", 1)[-1] for record in trace}
        assert {"in", "run", "calc", "twice"} <= steps
        keys = list(store.keys())
        assert len(keys) >= len(trace)
    finally:
        store.close()
    with RunIndex(os.path.join(os.environ["SMOL_HOME"], "elsewhere.sqlite")) as fresh:
        with open_store(index=fresh) as again:
            rebuilt = fresh.rebuild(again)
            assert rebuilt.indexed == len(keys) and not rebuilt.corrupt
            assert {record.id for record in fresh.artifacts(result.run_id)} == {record.id for record in trace}


async def test_a_lost_actor_is_restarted_and_the_request_retried(cluster: Any) -> None:
    async with ActorSystem(record=False, cluster=placed(ballast=KindPlacement(cpus=0, retries=1))) as system:
        ref = await system.spawn("ballast", BALLAST, kind="ballast")
        first = ref.pid
        pending = asyncio.ensure_future(ref.request(Artifact.text("sleep 5"), timeout=60))
        await asyncio.sleep(1.0)
        os.kill(first, signal.SIGKILL)
        reply = await pending
        assert not reply.is_error, reply.error_message
        assert reply.as_json()["pid"] != first
        assert "restarting" in events(system, "ballast")
        again = await ref.request(Artifact.text("hello"), timeout=30)
        assert again.as_json()["pid"] == reply.as_json()["pid"]


async def test_without_retries_the_request_gets_an_error_artifact(cluster: Any) -> None:
    async with ActorSystem(record=False, cluster=placed(ballast=KindPlacement(cpus=0, retries=0))) as system:
        ref = await system.spawn("ballast", BALLAST, kind="ballast")
        pending = asyncio.ensure_future(ref.request(Artifact.text("sleep 5"), timeout=60))
        await asyncio.sleep(1.0)
        os.kill(ref.pid, signal.SIGKILL)
        reply = await pending
        assert reply.is_error and reply.as_json()["error"] == "WorkerCrashed"
        assert "lost its actor" in reply.error_message
        assert not (await ref.request(Artifact.text("hello"), timeout=30)).is_error


async def test_an_actor_ray_gave_up_on_stops_the_unit(cluster: Any) -> None:
    placement = placed(ballast=KindPlacement(cpus=0, retries=1, max_restarts=0))
    async with ActorSystem(record=False, cluster=placement) as system:
        ref = await system.spawn("ballast", BALLAST, kind="ballast")
        pending = asyncio.ensure_future(ref.request(Artifact.text("sleep 5"), timeout=60))
        await asyncio.sleep(1.0)
        os.kill(ref.pid, signal.SIGKILL)
        reply = await pending
        assert reply.is_error and reply.as_json()["error"] == "WorkerCrashed"
        assert events(system, "ballast")[-1] == "stopped"
        with pytest.raises(UnitStopped):
            await ref.request(Artifact.text("hello"), timeout=5)


async def test_a_requester_that_gives_up_cancels_the_actor_task(cluster: Any) -> None:
    async with ActorSystem(record=False, cluster=placed(ballast=KindPlacement(cpus=0))) as system:
        ref = await system.spawn("ballast", BALLAST, kind="ballast")
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.5):
                await ref.request(Artifact.text("sleep 30"), timeout=60)
        async with asyncio.timeout(10):
            while ref.busy:
                await asyncio.sleep(0.05)
        assert not (await ref.request(Artifact.text("hello"), timeout=10)).is_error


async def test_a_unit_that_cannot_start_on_the_cluster_is_a_unit_error(cluster: Any) -> None:
    async with ActorSystem(record=False, cluster=placed(ballast=KindPlacement(cpus=0))) as system:
        with pytest.raises(UnitError, match="failed to start on the cluster.*nope"):
            await system.spawn("broken", BALLAST, kwargs={"nope": 1}, kind="ballast")
        assert system.units() == []


async def test_a_streamed_reply_comes_part_by_part_as_on_one_machine(cluster: Any) -> None:
    import functools
    import json

    from smolcpu.testing import ScriptedLLM

    factory = functools.partial(ScriptedLLM, json.dumps)
    chat = Artifact.json({"op": "chat", "messages": [{"role": "user", "content": "one two"}], "stream": True})

    async def parts(placement: Placement | None) -> list[tuple[str, str | None]]:
        async with ActorSystem(record=False, cluster=placement) as system:
            ref = await system.spawn("llm", factory, kind="llm")
            return [(part.as_text(), part.attr("part")) async for part in ref.stream(chat, timeout=30)]

    embedded = await parts(None)
    assert len(embedded) > 2 and embedded[-1][1] is None
    assert await parts(placed(llm=KindPlacement(cpus=0))) == embedded


async def test_a_full_unit_makes_senders_wait(cluster: Any) -> None:
    async with ActorSystem(record=False, cluster=placed(ballast=KindPlacement(cpus=0))) as system:
        ref = await system.spawn("ballast", BALLAST, kind="ballast", mailbox_size=1)
        first = asyncio.ensure_future(ref.request(Artifact.text("sleep 1"), timeout=30))
        await asyncio.sleep(0.1)
        with pytest.raises(RequestTimeout):
            await ref.send(Artifact.text("hello"), timeout=0.2)
        assert not (await first).is_error
        assert not (await ref.request(Artifact.text("hello"), timeout=30)).is_error


async def test_a_unit_no_node_can_take_is_a_unit_error_not_a_hang(
    cluster: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from smolcpu import config

    monkeypatch.setattr(config, "WORKER_START_TIMEOUT_S", 3.0)
    async with ActorSystem(record=False, cluster=placed(ballast=KindPlacement(labels={"zone": "nowhere"}))) as system:
        with pytest.raises(UnitError, match="not placed on the cluster within 3.0s.*zone=nowhere"):
            await system.spawn("ballast", BALLAST, kind="ballast")
