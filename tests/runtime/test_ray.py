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
from smolcpu.models import model_spec
from smolcpu.runtime import ActorSystem, KindPlacement, Placement, UnitRef
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
STORE_PROGRAM = "use mem = vectors\nout <= mem <= in\n"
GRAPH_PROGRAM = "use g = graph\nout <= g <= in\n"
CALC_PROGRAM = "use calc = math\nout <= calc <= in\n"
FIRST = FirstChooser()


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


async def killed_mid_request(system: ActorSystem) -> tuple[UnitRef, int, Artifact]:
    """A ballast unit asked to sleep 5 s, its actor SIGKILLed a second in: the unit, the pid
    killed, and the reply the request got."""
    ref = await system.spawn("ballast", BALLAST, kind="ballast")
    killed = ref.pid
    pending = asyncio.ensure_future(ref.request(Artifact.text("sleep 5"), timeout=60))
    await asyncio.sleep(1.0)
    os.kill(killed, signal.SIGKILL)
    return ref, killed, await pending


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


async def test_a_model_on_the_cluster_serves_every_run_of_the_session(cluster: Any) -> None:
    """Runs one after another (as a server's requests are) share the model's actors: it loads once."""
    if not model_spec("minilm").installed:
        pytest.skip("the embedder is not installed: smol models install minilm")
    program = compile_source("use look = embed\nout <= look <= in\n").runnable()
    async with ActorSystem(record=False, cluster=placed(embed=KindPlacement(cpus=0))) as system:
        for text in ("one run", "another run"):
            async with Executor(program, system=system, chooser=FIRST, record=False) as executor:
                result = await executor.run(text)
            assert result.ok, result.reason
        started = [e.attr("unit") for e in system.events if e.attr("event") == "started"]
        assert [name.split("(")[0] for name in started] == ["cluster.embed"]
        assert [ref.name for ref in system.units()] == started  # still up for the next run


async def test_a_lost_actor_is_restarted_and_the_request_retried(cluster: Any) -> None:
    async with ActorSystem(record=False, cluster=placed(ballast=KindPlacement(cpus=0, retries=1))) as system:
        ref, first, reply = await killed_mid_request(system)
        assert not reply.is_error, reply.error_message
        assert reply.as_json()["pid"] != first
        assert "restarting" in events(system, "ballast")
        again = await ref.request(Artifact.text("hello"), timeout=30)
        assert again.as_json()["pid"] == reply.as_json()["pid"]


async def test_without_retries_the_request_gets_an_error_artifact(cluster: Any) -> None:
    async with ActorSystem(record=False, cluster=placed(ballast=KindPlacement(cpus=0, retries=0))) as system:
        ref, _, reply = await killed_mid_request(system)
        assert reply.is_error and reply.as_json()["error"] == "WorkerCrashed"
        assert "lost its actor" in reply.error_message
        assert not (await ref.request(Artifact.text("hello"), timeout=30)).is_error


async def test_an_actor_ray_gave_up_on_stops_the_unit(cluster: Any) -> None:
    placement = placed(ballast=KindPlacement(cpus=0, retries=1, max_restarts=0))
    async with ActorSystem(record=False, cluster=placement) as system:
        ref, _, reply = await killed_mid_request(system)
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


def holders(path: Any) -> list[int]:
    """The processes that have the file at ``path`` open."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") == str(path) for fd in os.listdir(f"/proc/{pid}/fd")):
                found.append(int(pid))
        except OSError:  # gone meanwhile, or not ours to look into
            continue
    return found


def request(op: str, **args: Any) -> Artifact:
    return Artifact.json({"op": op, "args": args}, origin="test", role="input")


async def test_a_store_on_the_cluster_is_one_store_for_every_node(cluster: Any) -> None:
    from smolcpu import config

    placement = placed(
        vectors=KindPlacement(replicas=2, cpus=1),  # one CPU a node: a replica on each, requests in turn
        graph=KindPlacement(replicas=2, cpus=1),
    )
    vector = [1.0] + [0.0] * 383
    async with ActorSystem(record=False, cluster=placement) as system:
        async with Executor(compile_source(STORE_PROGRAM).runnable(), system=system, chooser=FIRST) as executor:
            results = [
                await executor.run(request("add", key="k1", vector=vector, text="the answer is 42")),
                await executor.run(request("search", text="answer")),
            ]
            (host,) = holders(config.vectors_path())  # one process holds the store: its Ray actor
            assert host != os.getpid()
            os.kill(host, signal.SIGKILL)  # Ray restarts it on the driver's node; the file stays
            results += [
                await executor.run(request("add", key="k2", vector=vector, text="another answer")),
                await executor.run(request("search", text="answer")),
            ]
        async with Executor(compile_source(GRAPH_PROGRAM).runnable(), system=system, chooser=FIRST) as executor:
            results += [
                await executor.run(request("add_edge", source="a", target="b")),
                await executor.run(request("reachable", id="a")),
            ]
        assert holders(config.vectors_path()) not in ([], [host])  # restarted
    assert all(result.ok for result in results), [result.reason for result in results]
    assert [hit["key"] for hit in results[1].output.as_json()] == ["k1"]
    assert sorted(hit["key"] for hit in results[3].output.as_json()) == ["k1", "k2"]
    assert results[5].output.as_json() == ["b"]
    stopped = [e.as_json() for e in system.events if e.attr("event") == "stopped"]
    for kind in ("vectors", "graph"):
        served = next(event["served"] for event in stopped if f".{kind}(" in event["unit"])
        assert len(served) == 2 and all(count >= 1 for count in served.values()), served  # both nodes did work
    store = open_store()
    try:
        for result in results:
            steps = {record.origin.rsplit(".", 1)[-1] for record in store.index.artifacts(result.run_id)}
            assert {"in", "mem"} <= steps or {"in", "g"} <= steps
    finally:
        store.close()


async def test_a_node_lost_mid_request_is_retried_on_the_other_node(
    cluster: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from smolcpu import config

    doomed = cluster.add_node(num_cpus=1, object_store_memory=80 * 1024**2, labels={"zone": "c"})
    cluster.wait_for_nodes()
    placement = placed(
        ballast=KindPlacement(replicas=2, cpus=1, labels={"zone": "in(b,c)"}, retries=1),  # one on b, one on c
        math=KindPlacement(cpus=0),
    )
    async with ActorSystem(record=False, cluster=placement) as system:
        ref = await system.spawn("ballast", BALLAST, kind="ballast")
        monkeypatch.setattr(config, "WORKER_START_TIMEOUT_S", 5.0)  # how long a restart no node can take is waited for
        pending = [asyncio.ensure_future(ref.request(Artifact.text("sleep 3"), timeout=60)) for _ in range(2)]
        await asyncio.sleep(1.0)  # one request on each node now
        cluster.remove_node(doomed)
        replies = await asyncio.gather(*pending)
        assert not any(reply.is_error for reply in replies), [reply.error_message for reply in replies]
        assert "restarting" in events(system, "ballast")
        assert not (await ref.request(Artifact.text("hello"), timeout=30)).is_error
        async with Executor(compile_source(CALC_PROGRAM).runnable(), system=system) as executor:
            after = await executor.run(Artifact.text("6 * 7", origin="test", role="input"))
        assert after.ok, after.reason
