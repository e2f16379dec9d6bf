"""Shared fixtures: every test gets its own SMOL_HOME so nothing touches the user's state; an S3
server on loopback and a fresh bucket in it, for the S3 store and the cluster backend."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test on a model from the cache (outside the repository) is a slow one; see tests/units/onnx_models.py."""
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        defs = [d for found in (info.name2fixturedefs.values() if info else ()) for d in found]
        if any(getattr(d.func, "cached_model", False) for d in defs):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def smol_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "smol-home"
    monkeypatch.setenv("SMOL_HOME", str(home))
    monkeypatch.delenv("SMOL_STORE", raising=False)
    return home


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on loopback (real HTTP; boto3 cannot tell it from S3)."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_env(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point Smol (and boto3) at the local server with throwaway credentials."""
    monkeypatch.setenv("SMOL_S3_ENDPOINT", s3_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return s3_endpoint


@pytest.fixture
def bucket(s3_env: str, request: pytest.FixtureRequest) -> str:
    """A fresh bucket for one test."""
    import boto3

    name = "smol-" + request.node.name.lower().replace("_", "-").replace("[", "-").replace("]", "")[:40]
    boto3.client("s3", endpoint_url=s3_env).create_bucket(Bucket=name)
    return name
