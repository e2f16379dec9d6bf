"""Placements: which unit kinds run on the cluster and how, read from TOML (no Ray needed)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from smolcpu.errors import UsageError
from smolcpu.runtime import ActorSystem, KindPlacement, Placement, read_placement
from smolcpu.runtime._placement import PLACED_BY_DEFAULT, configured_placement


def test_the_default_places_the_heavy_stateless_kinds() -> None:
    placement = read_placement("ray://10.0.0.1:10001")
    assert set(placement.kinds) == set(PLACED_BY_DEFAULT)
    assert placement.of("sandbox") == placement.of("llm") == KindPlacement()
    assert placement.of("math") is None and placement.of("registers") is None and placement.of(None) is None


def test_a_file_says_replicas_cpus_labels_and_policy(tmp_path: Path) -> None:
    path = tmp_path / "placement.toml"
    path.write_text(
        "[units.math]\nreplicas = 2\ncpus = 0.5\n"
        '[units.sandbox]\nlabels = { zone = "b" }\nretries = 0\nmax_restarts = 1\n'
    )
    placement = read_placement("local", path)
    assert placement.is_local
    assert placement.of("math") == KindPlacement(replicas=2, cpus=0.5)
    assert placement.of("sandbox") == KindPlacement(labels={"zone": "b"}, retries=0, max_restarts=1)
    assert placement.of("llm") is None


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("[units.math]\nreplica = 2\n", "unknown key replica"),
        ("[units.math]\nreplicas = 0\n", "at least 1 replica"),
        ("[units.math]\nlabels = 3\n", "labels must be a table"),
        ("[cluster]\nx = 1\n", r"only \[units\.KIND\] tables"),
        ("[units.math\n", "not valid TOML"),
    ],
)
def test_a_bad_file_is_a_clear_usage_error(tmp_path: Path, text: str, said: str) -> None:
    path = tmp_path / "placement.toml"
    path.write_text(text)
    with pytest.raises(UsageError, match=said):
        read_placement("local", path)


@pytest.mark.parametrize("address", ["ray://head:10001", "head:6379", "auto", "local"])
def test_ray_addresses_are_accepted(address: str) -> None:
    assert read_placement(address).address == address


@pytest.mark.parametrize("address", ["http://head:80", "ray://head", "head", "ray://head:1/x"])
def test_other_addresses_are_refused(address: str) -> None:
    with pytest.raises(UsageError, match="not a Ray address"):
        read_placement(address)


def test_the_environment_names_the_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert configured_placement() is None
    assert ActorSystem(record=False).cluster is None
    path = tmp_path / "p.toml"
    path.write_text("[units.math]\nreplicas = 3\n")
    monkeypatch.setenv("SMOL_CLUSTER", "ray://head:10001")
    monkeypatch.setenv("SMOL_PLACEMENT", str(path))
    system = ActorSystem(record=False)
    assert system.cluster == Placement("ray://head:10001", {"math": KindPlacement(replicas=3)})
    assert system.placed("math") and not system.placed("sandbox")
    assert ActorSystem(record=False, cluster=None).cluster is None


async def test_without_ray_the_cluster_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(UsageError, match=r"pip install 'smolcpu\[ray\]'"):
        async with ActorSystem(record=False, cluster=read_placement("local")):
            pass
