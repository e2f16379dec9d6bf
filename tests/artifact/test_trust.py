"""Signatures that mean something, and decoders that a small hostile input cannot blow up.

The review's findings: a signature was checked against the artifact's own key, so a payload
changed and re-signed by the attacker's key (or with signature and key stripped) passed; a
128-byte Cap'n Proto message claimed millions of attributes; deeply nested JSON raised a raw
RecursionError. The attacker's target here is what a user keeps in their own home
(``$SMOL_HOME``, the store every run writes to).
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from typer.testing import CliRunner

from smolcpu import config
from smolcpu.artifact import (
    Artifact,
    FileStore,
    RunIndex,
    Signer,
    TrustStore,
    load_json,
    open_store,
    parse_key,
    require_trusted,
    verify_signature,
)
from smolcpu.cli import app
from smolcpu.errors import ArtifactError, ChecksumMismatch, SignatureInvalid, UntrustedSigner, UsageError


@pytest.fixture
def ours() -> Signer:
    return Signer.from_seed(bytes(range(32)))


@pytest.fixture
def trust(smol_home: Path, ours: Signer) -> TrustStore:
    store = TrustStore()
    store.add(ours.pubkey, "build-server")
    return store


def forged(original: Artifact) -> Artifact:
    """What an attacker does with a signed artifact: change the payload, fix the checksum
    and id, and sign it again with a key of their own."""
    changed = Artifact.text("transfer everything to mallory", scope=original.scope)
    return Signer().sign(changed.replace(id=original.id, timestamp=original.timestamp))


def test_a_payload_re_signed_by_another_key_is_intact_but_not_trusted(ours: Signer, trust: TrustStore) -> None:
    genuine = ours.sign(Artifact.text("pay alice 10", scope="global"))
    verified = verify_signature(genuine, trust=trust)
    assert verified.trusted and verified.name == "build-server" and verified.signer == ours.pubkey
    fake = forged(genuine)
    assert not verify_signature(fake, trust=trust).trusted
    assert not verify_signature(genuine).trusted  # no trust store: no key is trusted
    with pytest.raises(UntrustedSigner, match="does not hold; if you know that key"):
        require_trusted(fake, trust)
    with pytest.raises(UntrustedSigner, match="is not signed"):
        require_trusted(genuine.replace(signature=b"", pubkey=b""), trust)
    with pytest.raises(ChecksumMismatch):
        require_trusted(genuine.replace(payload=b"pay mallory 10"), trust)
    with pytest.raises(SignatureInvalid):
        require_trusted(genuine.replace(origin="mallory"), trust)


def test_a_store_that_requires_trust_refuses_forged_and_stripped_artifacts(
    smol_home: Path, ours: Signer, trust: TrustStore
) -> None:
    genuine = ours.sign(Artifact.text("pay alice 10", attributes={"run": "r1"}))
    fake = forged(ours.sign(Artifact.text("pay bob 10")))
    stripped = ours.sign(Artifact.text("pay carol 10")).replace(signature=b"", pubkey=b"")
    with open_store() as writer:  # the user's own store, under their home
        assert writer.root.is_relative_to(smol_home)
        for artifact in (genuine, fake, stripped):
            writer.put(artifact)
    with open_store(require_trusted=True) as reader:
        assert reader.get(genuine.id) == genuine
        with pytest.raises(UntrustedSigner):
            reader.get(fake.id)
        with pytest.raises(UntrustedSigner, match="not signed"):
            reader.get(stripped.id)
    with open_store() as lenient:  # integrity only, as before
        assert lenient.get(fake.id) == fake


def test_require_trusted_follows_the_configuration(
    smol_home: Path, ours: Signer, trust: TrustStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    stranger = Signer().sign(Artifact.text("hello"))
    index = RunIndex(tmp_path / "index.sqlite")
    FileStore(tmp_path / "store", index=index).put(stranger)
    monkeypatch.setattr(config, "REQUIRE_TRUSTED", True)
    with pytest.raises(UntrustedSigner):
        FileStore(tmp_path / "store", index=index).get(stranger.id)
    index.close()


def test_the_trust_store_is_a_file_a_person_can_read(smol_home: Path, ours: Signer) -> None:
    store = TrustStore()
    assert store.path == smol_home / "trusted_keys" and len(store) == 0
    store.add(ours.pubkey, "build-server")
    text = store.path.read_text()
    assert f"{ours.pubkey.hex()} build-server" in text
    assert (store.path.stat().st_mode & 0o077) == 0
    assert TrustStore().name_of(ours.pubkey) == "build-server"
    with pytest.raises(UsageError, match="taken by key"):
        store.add(Signer().pubkey, "build-server")
    assert store.remove("build-server") == ours.pubkey
    assert not TrustStore().trusts(ours.pubkey)
    store.path.write_text("not a key line\n")
    with pytest.raises(UsageError, match=r"trusted_keys:1: a line of the trust store"):
        TrustStore()
    with pytest.raises(UsageError, match="not an Ed25519 public key"):
        parse_key("abc")


def test_smol_keys_adds_lists_verifies_and_removes(smol_home: Path, ours: Signer, tmp_path: Path) -> None:
    runner = CliRunner()
    signed = ours.sign(Artifact.text("hello"))
    with open_store() as store:
        store.put(signed)
    untrusted = runner.invoke(app, ["keys", "verify", signed.id])
    assert untrusted.exit_code == 1 and "a key the trust store does not hold" in untrusted.output
    added = runner.invoke(app, ["keys", "add", ours.pubkey.hex(), "build-server"])
    assert added.exit_code == 0, added.output
    listed = runner.invoke(app, ["keys", "list"])
    assert "build-server" in listed.output and ours.pubkey.hex() in listed.output
    trusted = runner.invoke(app, ["keys", "verify", signed.id])
    assert trusted.exit_code == 0 and "trusted key 'build-server'" in trusted.output
    file = tmp_path / "forged.json"
    file.write_text(forged(signed).to_json())
    assert runner.invoke(app, ["keys", "verify", str(file)]).exit_code == 1
    assert runner.invoke(app, ["keys", "remove", "build-server"]).exit_code == 0
    assert runner.invoke(app, ["keys", "verify", signed.id]).exit_code == 1


def zero_size_struct_list(count: int) -> bytes:
    """A 128-byte Cap'n Proto Artifact whose attributes are ``count`` structs of size zero:
    nothing on the wire, yet each decodes to an attribute."""
    words = [0] * 15
    words[0] = (1 << 32) | (12 << 48)  # root: a struct right after, 1 data word, 12 pointers
    words[10] = 1 | (3 << 2) | (7 << 32)  # pointer 8 (attributes): inline-composite list, tag 3 words on
    words[14] = count << 2  # the tag: `count` elements of 0 data words and 0 pointers
    return struct.pack("<II", 0, len(words)) + struct.pack(f"<{len(words)}Q", *words)


@pytest.mark.timeout(30)
def test_a_tiny_message_cannot_claim_millions_of_attributes() -> None:
    assert len(Artifact.from_bytes(zero_size_struct_list(100)).attributes) == 100
    bomb = zero_size_struct_list(2**28)
    assert len(bomb) == 128
    with pytest.raises(ArtifactError, match="traversal limit"):
        Artifact.from_bytes(bomb)


def test_large_honest_artifacts_still_decode() -> None:
    many = Artifact.create(b"", attributes={f"k{i}": "" for i in range(20_000)}, parents=[""] * 5000)
    assert Artifact.from_bytes(many.to_bytes()) == many
    big = Artifact.create(b"x" * 3_000_000, attributes={f"k{i}": "v" * i for i in range(2000)})
    assert Artifact.from_bytes(big.to_bytes()) == big


@pytest.mark.parametrize("depth", [100_000, 5000])
def test_deeply_nested_json_is_an_artifact_error_not_a_recursion_error(depth: int) -> None:
    nested = "[" * depth + "]" * depth
    with pytest.raises(ArtifactError, match="nested too deeply"):
        load_json(nested)
    with pytest.raises(ArtifactError, match="nested too deeply"):
        Artifact.json(1).replace(payload=nested.encode()).as_json()
    with pytest.raises(ArtifactError, match="nested too deeply"):
        Artifact.from_json('{"id": "x", "type": "t", "payload": "", "attributes": ' + nested + "}")
    shallow = load_json("[" * 50 + "1" + "]" * 50)
    for _ in range(50):
        shallow = shallow[0]
    assert shallow == 1
