"""Fill an artifact store on a small file system until it is full; print what happened as JSON.

Run by test_store_faults inside a mount namespace with a tmpfs at ``argv[1]``; the run index
lives there, and so does the store unless ``argv[2]`` names another folder for it.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from smolcpu.artifact import Artifact, RunIndex, open_store

PAYLOAD = 3000
TRIES = 10_000


def main(root: Path, store_root: Path) -> dict[str, object]:
    written: list[str] = []
    failure: BaseException | None = None
    with RunIndex(root / "index.db") as index, open_store(str(store_root), index=index) as store:
        index.start_run("run-full")
        for n in range(TRIES):
            artifact = Artifact.text(f"{n:06d}" + "x" * PAYLOAD, attributes={"run": "run-full"})
            try:
                store.put(artifact)
            except BaseException as exc:  # noqa: BLE001 - what kind it is, is the finding
                failure = exc
                break
            written.append(artifact.id)
        statvfs = os.statvfs(root)
        found = store.verify()
        readable = sum(1 for artifact_id in written if store.get(artifact_id).id == artifact_id)
    return {
        "written": len(written),
        "failure": type(failure).__module__ + "." + type(failure).__name__ if failure else None,
        "message": str(failure) if failure else "",
        "free_blocks": statvfs.f_bavail,
        "intact": found.intact,
        "corrupt": len(found.corrupt),
        "missing": len(found.missing),
        "leftovers": list(found.leftovers),
        "readable": readable,
    }


if __name__ == "__main__":
    tmpfs = Path(sys.argv[1])
    print(json.dumps(main(tmpfs, Path(sys.argv[2]) if len(sys.argv) > 2 else tmpfs / "store")))
