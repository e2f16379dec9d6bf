"""The S3 store when S3 answers with 500s or slowly (a fault-injecting proxy in front of a
moto server on loopback): it tries again with backoff, then gives a clear error."""

from __future__ import annotations

import uuid

import boto3
import pytest

from smolcpu import config
from smolcpu.artifact import Artifact, RunIndex, open_store
from smolcpu.artifact._store import S3_ATTEMPTS
from smolcpu.errors import ArtifactError
from tests.faults.conftest import FaultyProxy


@pytest.fixture
def store(faulty_s3: FaultyProxy, s3_endpoint: str, tmp_path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN001, ANN201
    monkeypatch.setattr(config, "STORE_TIMEOUT_S", 0.5)
    bucket = f"faults-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    with RunIndex(tmp_path / "index.db") as index, open_store(f"s3://{bucket}/runs", index=index) as opened:
        yield opened


def puts(proxy: FaultyProxy) -> list[str]:
    return [fault for _, method, fault in proxy.seen if method == "PUT"]


@pytest.mark.parametrize("fault", ["500", "stall"])
def test_a_passing_fault_is_retried_and_the_write_succeeds(store, faulty_s3: FaultyProxy, fault: str) -> None:  # noqa: ANN001
    faulty_s3.faults.extend([fault] * (S3_ATTEMPTS - 1))
    artifact = Artifact.text("kept through the faults")
    store.put(artifact)
    assert puts(faulty_s3) == [fault] * (S3_ATTEMPTS - 1) + [""], "tried again after each fault"
    assert store.get(artifact.id).payload == artifact.payload


@pytest.mark.parametrize(("fault", "said"), [("500", "InternalError (HTTP 500"), ("stall", "Read timeout")])
def test_a_lasting_fault_ends_in_a_clear_error_after_every_attempt(store, faulty_s3: FaultyProxy, fault: str, said: str) -> None:  # noqa: ANN001, E501
    faulty_s3.always = fault
    artifact = Artifact.text("never stored")
    with pytest.raises(ArtifactError) as failed:
        store.put(artifact)
    message = str(failed.value)
    assert message.startswith("cannot write ") and store.url in message and said in message
    assert puts(faulty_s3) == [fault] * S3_ATTEMPTS
    faulty_s3.always = None
    assert store.verify().ok and store.index.key_of(artifact.id) is None, "nothing half-written, nothing indexed"
