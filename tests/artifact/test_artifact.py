"""The Artifact type: creation, both codecs (property-tested), checksum and signatures."""

from __future__ import annotations

import hashlib
import time
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smolcpu.artifact import ERROR, JSON, TEXT, Artifact, Signer, verify_signature
from smolcpu.errors import ArtifactError, ChecksumMismatch, SignatureInvalid

from .strategies import artifacts, texts


def test_create_fills_id_time_and_checksum() -> None:
    before = time.time_ns()
    artifact = Artifact.create(b"payload", origin="w1", role="worker", scope="run", attributes={"run": "r1"})
    assert uuid.UUID(artifact.id).version == 4
    assert before <= artifact.timestamp <= time.time_ns()
    assert artifact.checksum == hashlib.sha256(b"payload").digest()
    assert artifact.attr("run") == "r1"
    assert Artifact.create(b"payload").id != artifact.id


def test_typed_shortcuts_and_derive() -> None:
    text = Artifact.text("héllo", origin="in")
    assert (text.type, text.as_text()) == (TEXT, "héllo")
    data = text.derive(b'{"a": [1, 2]}', type=JSON, origin="tool")
    assert data.as_json() == {"a": [1, 2]}
    assert data.parents == (text.id,) and data.origin == "tool"
    assert Artifact.text("# title", type="text/markdown").type == "text/markdown"
    assert Artifact.json([1], type="application/ld+json").as_json() == [1]
    error = Artifact.error("no such file", kind="io", parents=[data])
    assert error.is_error and error.error_message == "no such file" and error.attr("status") == "error"


@given(artifacts)
def test_any_artifact_round_trips_through_capnp_bytes(artifact: Artifact) -> None:
    assert Artifact.from_bytes(artifact.to_bytes()) == artifact


@given(artifacts)
def test_any_artifact_round_trips_through_json(artifact: Artifact) -> None:
    assert Artifact.from_json(artifact.to_json()) == artifact
    assert Artifact.from_dict(artifact.to_dict()) == artifact


def test_json_form_has_the_concept_fields() -> None:
    artifact = Artifact.json({"x": 1}, origin="o", role="r", scope="s", attributes={"k": "v"})
    form = artifact.to_dict()
    assert {"id", "version", "type", "origin", "role", "scope", "timestamp", "attributes", "payload"} <= set(form)
    assert form["attributes"] == [{"key": "k", "value": "v"}]
    assert form["timestamp"] == artifact.timestamp


@pytest.mark.parametrize("data", [b"", b"\x00\x01garbage", b"\xff" * 64])
def test_undecodable_bytes_are_an_artifact_error(data: bytes) -> None:
    with pytest.raises(ArtifactError):
        Artifact.from_bytes(data)


@pytest.mark.parametrize("text", ["", "[1]", '{"id": "x"}', '{"id": "x", "type": "t", "payload": "!!"}'])
def test_malformed_json_is_an_artifact_error(text: str) -> None:
    with pytest.raises(ArtifactError):
        Artifact.from_json(text)


def test_checksum_catches_a_changed_payload() -> None:
    artifact = Artifact.text("the answer is 42")
    artifact.verify_checksum()
    with pytest.raises(ChecksumMismatch, match=artifact.id):
        artifact.replace(payload=b"the answer is 43").verify_checksum()


def test_signature_verifies_and_names_the_signer() -> None:
    signer = Signer()
    signed = signer.sign(Artifact.text("hello", origin="w1", parents=["p"]))
    assert signed.pubkey == signer.pubkey and len(signed.signature) == 64
    verify_signature(signed)
    verify_signature(Artifact.from_bytes(signed.to_bytes()))
    verify_signature(Artifact.from_json(signed.to_json()))


@pytest.mark.parametrize(
    "change",
    [
        {"payload": b"hellO"},
        {"origin": "w2"},
        {"role": "boss"},
        {"scope": "global"},
        {"type": JSON},
        {"version": "v9"},
        {"timestamp": 1},
        {"attributes": (("run", "other"),)},
        {"parents": ()},
        {"id": "someone-else"},
    ],
)
def test_any_change_to_payload_or_header_fails_verification(change: dict) -> None:
    signed = Signer().sign(Artifact.text("hello", origin="w1", role="r", attributes={"run": "r1"}, parents=["p"]))
    tampered = signed.replace(**change)
    if "payload" in change:
        tampered = tampered.replace(checksum=hashlib.sha256(change["payload"]).digest())
    with pytest.raises(SignatureInvalid):
        verify_signature(tampered)


def test_changed_payload_with_stale_checksum_fails_too() -> None:
    signed = Signer().sign(Artifact.text("hello"))
    with pytest.raises(ArtifactError):
        verify_signature(signed.replace(payload=b"jello"))


def test_another_key_or_no_signature_fails() -> None:
    signed = Signer().sign(Artifact.text("hello"))
    with pytest.raises(SignatureInvalid):
        verify_signature(signed.replace(pubkey=Signer().pubkey))
    with pytest.raises(SignatureInvalid, match="not signed"):
        verify_signature(Artifact.text("hello"))
    with pytest.raises(SignatureInvalid):
        verify_signature(signed.replace(pubkey=b"short"))


def test_signer_from_seed_is_stable() -> None:
    seed = bytes(range(32))
    assert Signer.from_seed(seed).pubkey == Signer.from_seed(seed).pubkey
    verify_signature(Signer.from_seed(seed).sign(Artifact.text("x")))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)


@given(
    st.fixed_dictionaries(
        {"id": json_values, "type": json_values, "payload": json_values},
        optional={name: json_values for name in ("checksum", "timestamp", "attributes", "parents", "pubkey")},
    )
)
def test_any_malformed_json_form_is_an_artifact_error_or_a_valid_artifact(form: dict) -> None:
    try:
        artifact = Artifact.from_dict(form)
    except ArtifactError:
        return
    assert Artifact.from_bytes(artifact.to_bytes()) == artifact


@pytest.mark.parametrize("timestamp", [-1, 2**64, "soon"])
def test_a_timestamp_out_of_range_is_refused(timestamp: object) -> None:
    with pytest.raises(ArtifactError, match="timestamp"):
        Artifact.from_dict({"id": "x", "type": TEXT, "payload": "", "timestamp": timestamp})


@pytest.mark.parametrize("payload", [b"disk on fire", b"[1, 2]", b"\xff\xfe"])
def test_a_malformed_error_payload_still_has_a_message(payload: bytes) -> None:
    broken = Artifact.create(payload, type=ERROR)
    assert broken.is_error and broken.error_message == payload.decode("utf-8", errors="replace")
