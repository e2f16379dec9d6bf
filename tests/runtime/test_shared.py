"""Sharing one object across a cluster's nodes, the parts that need no cluster: the proxy, the
refusal without a cluster, and what a store unit says it must share (the cluster itself is in
test_ray.py, slow)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from smolcpu.errors import UsageError
from smolcpu.runtime import ActorSystem
from smolcpu.runtime._shared import Shared
from smolcpu.units.stores import Graph, LocalGraph, LocalVectors, Vectors


def test_the_proxy_offers_the_objects_methods_and_travels_as_data() -> None:
    shared = pickle.loads(pickle.dumps(Shared("vectors:x", "handle", api=LocalVectors.API, timeout=1.0)))
    assert shared.API == LocalVectors.API and shared.actor == "handle"
    assert callable(shared.search)
    with pytest.raises(AttributeError):
        getattr(shared, "drop_everything")  # not in the store's API
    with pytest.raises(AttributeError):
        getattr(shared, "_private")


def test_a_store_unit_shares_its_file_unless_it_names_a_global_store(tmp_path: Path) -> None:
    name, opener = Vectors.shared_store({"path": str(tmp_path / "v.sqlite")})
    assert name == f"vectors:{tmp_path / 'v.sqlite'}"
    store = opener()
    assert isinstance(store, LocalVectors) and store.location == str(tmp_path / "v.sqlite")
    store.close()
    name, opener = Graph.shared_store({})
    assert name.startswith("graph:") and name.endswith("graph.sqlite")
    assert opener.func is LocalGraph
    assert Vectors.shared_store({"url": "http://store:8765"}) is None
    assert Graph.shared_store({"store": LocalGraph()}) is None


async def test_sharing_needs_a_cluster() -> None:
    async with ActorSystem(record=False, cluster=None) as system:
        with pytest.raises(UsageError, match="no cluster"):
            await system.share("vectors:x", dict, lambda target, method, arguments: None, api=())
