"""Interop: Smol's Cap'n Proto bytes are read by the reference tool, and the tool's by Smol."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings

from smolcpu.artifact import SCHEMA_PATH, Artifact, Signer

from .strategies import artifacts

CAPNP = shutil.which("capnp")
pytestmark = pytest.mark.skipif(CAPNP is None, reason="needs `capnp`; install it with: apt-get install capnproto")


def capnp(*args: str, data: bytes) -> bytes:
    result = subprocess.run(
        [CAPNP or "capnp", *args, str(SCHEMA_PATH), "Artifact"], input=data, capture_output=True, timeout=30
    )
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


def as_reference_json(artifact: Artifact) -> dict:
    """What `capnp convert binary:json` prints for an artifact: Data as byte lists, UInt64 as text."""
    form = artifact.to_dict()
    for field in ("checksum", "pubkey", "payload", "signature"):
        form[field] = list(base64.b64decode(form[field]))
    form["timestamp"] = str(artifact.timestamp)
    return form


def test_capnp_decode_reads_smol_bytes() -> None:
    artifact = Artifact.text("2+2=4", origin="math", role="tool", attributes={"run": "r1"}, parents=["p1"])
    artifact = Signer().sign(artifact)
    text = capnp("decode", "--short", data=artifact.to_bytes()).decode()
    assert f'id = "{artifact.id}"' in text
    assert 'payload = "2+2=4"' in text
    assert 'attributes = [(key = "run", value = "r1")]' in text
    assert 'parents = ["p1"]' in text


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(artifacts)
def test_reference_tool_reads_every_field_of_any_artifact(artifact: Artifact) -> None:
    decoded = json.loads(capnp("convert", "binary:json", data=artifact.to_bytes()))
    expected = {key: value for key, value in as_reference_json(artifact).items() if value not in ("", [])}
    assert {key: value for key, value in decoded.items() if value not in ("", [])} == expected


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(artifacts)
def test_smol_reads_bytes_the_reference_tool_wrote(artifact: Artifact) -> None:
    """The tool copies the message into its own builder, in many small segments."""
    written = capnp("convert", "--segment-size=8", "binary:binary", data=artifact.to_bytes())
    assert written != artifact.to_bytes()
    assert Artifact.from_bytes(written) == artifact
