"""The artifact store: keys, round trips, corruption, atomic writes; both backends, one contract."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings

from smolcpu.artifact import Artifact, ArtifactStore, FileStore, RunIndex, S3Store, Signer, key_of, open_store
from smolcpu.artifact._store import MAX_SEGMENT, segment
from smolcpu.errors import ArtifactError, ArtifactNotFound, ChecksumMismatch, SignatureInvalid, UsageError

from .strategies import artifacts, texts


def overwrite(store: ArtifactStore, key: str, data: bytes) -> None:
    """Change what a store holds under ``key`` behind its back (a disk error, a bad actor)."""
    if isinstance(store, FileStore):
        store.root.joinpath(*key.split("/")).write_bytes(data)
    else:
        assert isinstance(store, S3Store)
        store._client.put_object(Bucket=store.bucket, Key=store.prefix + key, Body=data)


# -- keys ------------------------------------------------------------------------------


def test_key_is_the_concept_prefix() -> None:
    artifact = Artifact.json({"a": 1}, origin="worker-7", role="planner", scope="run-1")
    assert key_of(artifact) == (
        f"worker-7/planner/run-1/{artifact.timestamp}/application/json/v0.0.1/{artifact.id}.json"
    )


def test_empty_segments_become_underscore_and_underscore_stays_distinct() -> None:
    empty = Artifact.text("x")
    assert key_of(empty).startswith(f"_/_/_/{empty.timestamp}/text/plain/")
    assert segment("_") != segment("")


@pytest.mark.parametrize("value", ["..", ".", "../../etc", "a/b", "/abs", "x\x00y", "~", "%2E%2E", "a\\b", "C:"])
def test_path_tricks_are_escaped(value: str) -> None:
    made = segment(value)
    assert "/" not in made and "\\" not in made and "\x00" not in made
    assert made not in ("", ".", "..")


@given(texts)
def test_any_segment_is_one_safe_name(value: str) -> None:
    made = segment(value)
    assert made and made.strip(".") and "/" not in made
    assert made.isascii() and made.isprintable() and len(made) <= MAX_SEGMENT


@given(texts, texts)
def test_distinct_segments_stay_distinct(a: str, b: str) -> None:
    assert (segment(a) == segment(b)) == (a == b)


def test_long_segments_are_cut_with_a_hash() -> None:
    long_a, long_b = "a" * 1000, "a" * 999 + "b"
    assert len(segment(long_a)) <= MAX_SEGMENT
    assert segment(long_a) != segment(long_b)


@given(artifacts)
def test_any_key_has_eight_levels(artifact: Artifact) -> None:
    parts = key_of(artifact).split("/")
    assert len(parts) == 8 and all(part not in ("", ".", "..") for part in parts)


def test_hostile_header_stays_inside_the_store(tmp_path: Path) -> None:
    root = tmp_path / "store"
    with FileStore(root) as store:
        evil = Artifact.text("x", origin="../../..", role="..", scope="/etc", type="../../passwd")
        evil = evil.replace(id="../../x")
        key = store.put(evil)
        assert store.get(evil.id) == evil
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix == ".json"]
    assert len(files) == 1 and files[0].is_relative_to(root) and files[0].relative_to(root).as_posix() == key


# -- the contract, on both backends ---------------------------------------------------


def test_put_get_round_trip(store: ArtifactStore) -> None:
    artifact = Signer().sign(Artifact.json({"answer": 42}, origin="math", role="tool", attributes={"run": "r1"}))
    key = store.put(artifact)
    assert key == key_of(artifact)
    assert store.get(artifact.id) == artifact
    assert store.load(key) == artifact
    assert list(store.keys()) == [key]


def test_stored_form_is_the_json_form(store: ArtifactStore, tmp_path: Path) -> None:
    artifact = Artifact.text("hello", origin="o")
    key = store.put(artifact)
    data = store._read(key)
    assert data is not None and json.loads(data) == artifact.to_dict()


def test_keys_and_iter_list_everything(store: ArtifactStore) -> None:
    made = [Artifact.text(f"n{i}", origin=f"w{i % 3}", attributes={"run": "r"}) for i in range(25)]
    for artifact in made:
        store.put(artifact)
    assert sorted(store.keys()) == sorted(key_of(a) for a in made)
    assert sorted(a.id for a in store.iter_artifacts()) == sorted(a.id for a in made)


def test_delete_removes_an_artifact_for_good(store: ArtifactStore) -> None:
    kept, gone = Artifact.text("kept"), Artifact.text("gone")
    store.put_many([kept, gone])
    store.delete(gone.id)
    assert list(store.keys()) == [key_of(kept)] and store.index.key_of(gone.id) is None
    with pytest.raises(ArtifactNotFound):
        store.get(gone.id)
    with pytest.raises(ArtifactNotFound):
        store.delete(gone.id)
    assert store.get(kept.id) == kept


def test_missing_artifact_is_not_found(store: ArtifactStore) -> None:
    with pytest.raises(ArtifactNotFound, match="no-such-id"):
        store.get("no-such-id")


def test_changed_payload_is_a_checksum_mismatch(store: ArtifactStore) -> None:
    artifact = Artifact.text("the answer is 42")
    key = store.put(artifact)
    overwrite(store, key, artifact.replace(payload=b"the answer is 43").to_json().encode())
    with pytest.raises(ChecksumMismatch, match=artifact.id):
        store.get(artifact.id)


def test_truncated_file_is_reported_with_its_key(store: ArtifactStore) -> None:
    artifact = Artifact.text("hello")
    key = store.put(artifact)
    overwrite(store, key, artifact.to_json().encode()[:30])
    with pytest.raises(ArtifactError, match="corrupt") as caught:
        store.get(artifact.id)
    assert key in str(caught.value)


def test_changed_header_is_caught(store: ArtifactStore) -> None:
    artifact = Artifact.text("hello", origin="alice")
    key = store.put(artifact)
    overwrite(store, key, artifact.replace(origin="mallory").to_json().encode())
    with pytest.raises(ArtifactError, match="header"):
        store.get(artifact.id)


def test_changed_signed_attribute_is_caught(store: ArtifactStore) -> None:
    artifact = Signer().sign(Artifact.text("pay 10", attributes={"amount": "10"}))
    key = store.put(artifact)
    overwrite(store, key, artifact.replace(attributes=(("amount", "1000"),)).to_json().encode())
    with pytest.raises(SignatureInvalid):
        store.get(artifact.id)


def test_get_finds_artifacts_the_index_does_not_know(store: ArtifactStore, tmp_path: Path) -> None:
    artifact = Artifact.text("stored elsewhere", attributes={"run": "r9"})
    store.put(artifact)
    fresh = RunIndex(tmp_path / "other-index.sqlite")
    other = FileStore(store.root, index=fresh) if isinstance(store, FileStore) else S3Store(
        store.bucket, store.prefix, index=fresh
    )
    with pytest.raises(ArtifactNotFound):
        other.get(artifact.id, search=False)  # what a server's caller gets: no store-wide search
    assert other.get(artifact.id) == artifact
    assert fresh.key_of(artifact.id) == key_of(artifact)
    assert other.get(artifact.id, search=False) == artifact  # indexed now
    fresh.close()


def test_put_records_the_run_and_lineage(store: ArtifactStore) -> None:
    store.index.start_run("r1", program="out <= tool <= in")
    question = Artifact.text("2+2?", origin="in", attributes={"run": "r1"})
    answer = question.derive(b"4", origin="math")
    store.put(question)
    store.put(answer)
    store.put(Artifact.text("unrelated"))
    assert [r.id for r in store.index.artifacts("r1")] == [question.id, answer.id]
    assert store.index.parents(answer.id) == [question.id]
    assert store.index.children(question.id) == [answer.id]
    assert store.index.runs()[0].artifact_count == 2


def test_put_many_stores_and_indexes_a_batch(store: ArtifactStore) -> None:
    batch = [Artifact.text(f"step {i}", origin="executor", attributes={"run": "batch"}) for i in range(150)]
    keys = store.put_many(batch)
    assert keys == [key_of(artifact) for artifact in batch]
    assert {record.id for record in store.index.artifacts("batch")} == {artifact.id for artifact in batch}
    assert store.get(batch[149].id).as_text() == "step 149"
    assert sorted(store.keys()) == sorted(keys)


def test_put_many_refuses_a_bad_artifact_before_writing_any(store: ArtifactStore) -> None:
    good, bad = Artifact.text("fine", attributes={"run": "b"}), Artifact.create(b"x", origin="\udc80")
    with pytest.raises(ArtifactError, match="not valid Unicode"):
        store.put_many([good, bad])
    assert list(store.keys()) == [] and store.index.artifacts("b") == []


# -- filesystem specifics -------------------------------------------------------------


def test_a_batch_that_fails_midway_leaves_no_temp_file_and_indexes_nothing(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "store")
    batch = [Artifact.text(str(i), origin=f"o{i}", attributes={"run": "half"}) for i in range(100)]
    (tmp_path / "store" / "o80").write_text("a file where a folder must go")
    with pytest.raises(ArtifactError, match="cannot write artifact"):
        store.put_many(batch)
    assert list((tmp_path / "store").rglob(".tmp-*")) == []
    assert store.index.artifacts("half") == []  # indexed only once all are stored
    assert len(list(store.keys())) == 80  # the ones before the bad one are whole; a rebuild finds them
    assert store.index.rebuild(store).indexed == 80
    store.close()


def test_failed_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = FileStore(tmp_path / "store")
    artifact = Artifact.text("x" * 10_000)

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(ArtifactError, match="No space left"):
        store.put(artifact)
    monkeypatch.undo()
    assert [p for p in (tmp_path / "store").rglob("*") if p.is_file()] == []
    with pytest.raises(ArtifactNotFound):
        store.get(artifact.id)
    store.close()


_WRITER = textwrap.dedent(
    """
    import sys
    from smolcpu.artifact import Artifact, FileStore, RunIndex
    store = FileStore(sys.argv[1], index=RunIndex(sys.argv[2]))
    payload = bytes(range(256)) * 16384
    print("ready", flush=True)
    while True:
        store.put(Artifact.create(payload, origin="writer", attributes={"run": "crash"}))
    """
)


def test_a_killed_writer_never_leaves_a_half_written_artifact(tmp_path: Path) -> None:
    """SIGKILL the writer while a write is in flight: the store holds whole artifacts only."""
    root = tmp_path / "store"
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(root), str(tmp_path / "index.sqlite")], stdout=subprocess.PIPE
    )
    assert writer.stdout is not None and writer.stdout.readline() == b"ready\n"
    deadline = time.monotonic() + 60
    in_flight: list[Path] = []
    while time.monotonic() < deadline:
        in_flight = list(root.rglob(".tmp-*"))
        if in_flight and len(list(root.rglob("*.json"))) >= 2:
            break
        time.sleep(0.002)
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=10)
    assert in_flight, "never caught a write in flight"
    with FileStore(root, index=RunIndex(tmp_path / "index.sqlite")) as store:
        artifacts = list(store.iter_artifacts())
        assert len(artifacts) >= 2
        assert all(len(a.payload) == 256 * 16384 for a in artifacts)
        assert store.index.rebuild(store).corrupt == ()
        assert all(not key.rpartition("/")[2].startswith(".tmp-") for key in store.keys())


def test_temp_files_are_never_listed(tmp_path: Path) -> None:
    with FileStore(tmp_path / "store") as store:
        key = store.put(Artifact.text("whole"))
        folder = (store.root / key).parent
        (folder / ".tmp-abc123.json").write_bytes(b'{"id": "half')
        assert list(store.keys()) == [key]


def test_concurrent_puts_from_threads(tmp_path: Path) -> None:
    with FileStore(tmp_path / "store") as store:
        made = [Artifact.text(str(i), attributes={"run": "t"}) for i in range(200)]
        threads = [threading.Thread(target=lambda part=made[i::4]: [store.put(a) for a in part]) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(store.index.artifacts("t")) == 200
        assert len(list(store.keys())) == 200


def test_a_key_that_climbs_out_is_refused(tmp_path: Path) -> None:
    with FileStore(tmp_path / "store") as store, pytest.raises(UsageError):
        store.load("../../outside.json")


# -- open_store -------------------------------------------------------------------------


def test_open_store_defaults_to_smol_home(smol_home: Path) -> None:
    with open_store() as store:
        assert isinstance(store, FileStore)
        assert store.root == (smol_home / "artifacts").resolve()
        assert store.index.path == smol_home / "index.sqlite"


def test_open_store_follows_smol_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMOL_STORE", str(tmp_path / "elsewhere"))
    with open_store() as store:
        assert store.root == (tmp_path / "elsewhere").resolve()


def test_open_store_s3_url(s3_env: str, bucket: str) -> None:
    with open_store(f"s3://{bucket}/some/prefix") as store:
        assert isinstance(store, S3Store) and store.prefix == "some/prefix/"
        artifact = Artifact.text("to the cloud")
        key = store.put(artifact)
        assert store._client.get_object(Bucket=bucket, Key="some/prefix/" + key)["Body"].read()
        assert store.get(artifact.id) == artifact


def test_missing_bucket_is_a_clear_error(s3_env: str) -> None:
    with open_store("s3://no-such-bucket") as store, pytest.raises(ArtifactError, match="NoSuchBucket"):
        store.put(Artifact.text("x"))


def test_unreachable_endpoint_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMOL_S3_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("SMOL_STORE_TIMEOUT", "1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    with open_store("s3://bucket") as store, pytest.raises(ArtifactError, match="SMOL_S3_ENDPOINT"):
        store.put(Artifact.text("x"))


@pytest.mark.parametrize("url", ["ftp://host/x", "s3://"])
def test_bad_store_url_is_a_usage_error(url: str) -> None:
    with pytest.raises(UsageError):
        open_store(url)


@settings(max_examples=60, deadline=None)
@given(artifacts.map(lambda a: a.replace(checksum=hashlib.sha256(a.payload).digest(), signature=b"")))
def test_any_artifact_round_trips_through_the_file_store(artifact: Artifact) -> None:
    with tempfile.TemporaryDirectory() as folder, RunIndex(Path(folder) / "index.sqlite") as index:
        store = FileStore(Path(folder) / "store", index=index, fsync=False)
        key = store.put(artifact)
        assert store.get(artifact.id) == artifact
        assert list(store.keys()) == [key]
        assert (store.root / key).is_file()


def test_text_that_is_not_unicode_is_refused_clearly(tmp_path: Path) -> None:
    with FileStore(tmp_path / "store") as store:
        with pytest.raises(ArtifactError, match="not valid Unicode"):
            store.put(Artifact.create(b"x", origin="\udc80"))
        assert list(store.keys()) == []


def test_a_closed_store_says_so(store: ArtifactStore) -> None:
    artifact = Artifact.text("x")
    store.put(artifact)
    store.close()
    store.close()
    assert "closed" in repr(store)
    with pytest.raises(UsageError, match="closed"):
        store.get(artifact.id)
    with pytest.raises(UsageError, match="closed"):
        store.put(artifact)


def test_s3_listing_follows_pages(s3_env: str, bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("smolcpu.artifact._store.S3_PAGE", 4)
    with open_store(f"s3://{bucket}") as store:
        made = [Artifact.text(str(i)) for i in range(10)]
        for artifact in made:
            store.put(artifact)
        assert sorted(store.keys()) == sorted(key_of(a) for a in made)
