"""The store under faults: a full disk (a real tmpfs) gives a clean error and leaves nothing
half-written; a corrupted artifact is caught on read and by ``smol store verify``."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from smolcpu.artifact import Artifact, RunIndex, open_store
from smolcpu.cli import app
from smolcpu.errors import ArtifactError, ChecksumMismatch

FILL = Path(__file__).with_name("fill_store.py")


def can_mount() -> bool:
    """Whether a tmpfs can be mounted in a mount namespace of our own (root, or user namespaces)."""
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"], capture_output=True)
    return probe.returncode == 0


needs_tmpfs = pytest.mark.skipif(not can_mount(), reason="needs `unshare -rm` to mount a tmpfs (user namespaces)")


def fill(tmp_path: Path, size: str, *store: Path) -> dict:
    """Fill a store on a tmpfs of ``size`` (the index there too; the store too unless given)."""
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    script = f'mount -t tmpfs -o size={size} tmpfs "$1" && shift && exec "$@"'
    command = [sys.executable, str(FILL), str(mount), *map(str, store)]
    done = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script, "sh", str(mount), *command], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@needs_tmpfs
def test_a_full_disk_under_the_store_is_a_clean_error_and_nothing_is_half_written(tmp_path: Path) -> None:
    found = fill(tmp_path, "256k")
    assert found["written"] > 0 and found["free_blocks"] == 0, "the disk really filled"
    assert found["failure"] == "smolcpu.errors.ArtifactError"
    assert "No space left on device" in found["message"] and "cannot write artifact" in found["message"]
    assert found["leftovers"] == [], "the failed write left no temp file"
    assert (found["intact"], found["corrupt"], found["missing"]) == (found["written"], 0, 0)
    assert found["readable"] == found["written"], "every artifact put before the disk filled reads back"


@needs_tmpfs
def test_a_full_disk_under_the_run_index_is_a_clean_error_and_rebuild_recovers(tmp_path: Path) -> None:
    store = tmp_path / "store"
    found = fill(tmp_path, "160k", store)
    assert found["failure"] == "smolcpu.errors.ArtifactError"
    assert "cannot write the run index" in found["message"] and "full" in found["message"]
    assert (found["corrupt"], found["missing"]) == (0, 0)
    assert found["intact"] == found["written"] + 1, "the artifact whose index row failed is stored whole"
    with RunIndex(tmp_path / "fresh.db") as index, open_store(str(store), index=index) as opened:
        assert index.rebuild(opened).indexed == found["intact"]


def stored(smol_home: Path, count: int = 4) -> tuple[Path, list[Artifact]]:
    artifacts = [Artifact.text(f"artifact {n}", attributes={"run": "run-1"}) for n in range(count)]
    with open_store() as store:
        keys = store.put_many(artifacts)
        root = Path(store.url)
    return root, [root / key for key in keys]


def verify() -> tuple[int, str]:
    result = CliRunner().invoke(app, ["store", "verify"], catch_exceptions=False, env={"COLUMNS": "300"})
    return result.exit_code, result.output


def test_a_corrupted_artifact_is_detected_on_read_and_by_smol_store_verify(smol_home: Path) -> None:
    _, paths = stored(smol_home)
    code, output = verify()
    assert code == 0 and "4 intact, 0 corrupt, 0 missing" in output
    flipped = json.loads(paths[0].read_text())
    flipped["payload"] = flipped["payload"][:-4] + ("AAAA" if not flipped["payload"].endswith("AAAA") else "BBBB")
    paths[0].write_text(json.dumps(flipped))  # a bit flip in the payload
    paths[1].write_bytes(paths[1].read_bytes()[:40])  # a torn write
    paths[2].unlink()  # lost

    with open_store() as store:
        with pytest.raises(ChecksumMismatch):
            store.get(flipped["id"])
        with pytest.raises(ArtifactError, match="corrupt"):
            store.load(str(paths[1].relative_to(store.url)))
    code, output = verify()
    assert code == 1
    lines = output.splitlines()
    assert sum(line.startswith("corrupt ") for line in lines) == 2
    assert sum(line.startswith("missing ") for line in lines) == 1
    assert "1 intact, 2 corrupt, 1 missing" in output
    assert "checksum" in output.lower()


def test_a_leftover_temp_file_is_reported_but_is_no_failure(smol_home: Path) -> None:
    root, paths = stored(smol_home, 1)
    (paths[0].parent / ".tmp-crashed").write_bytes(b'{"id": "half')
    code, output = verify()
    assert code == 0 and "unfinished write" in output and "1 intact, 0 corrupt, 0 missing" in output
