"""The artifact layer: the Artifact message type, its codecs and signatures, and the store.

Nothing here imports from any layer above.
"""

from smolcpu.artifact._artifact import BYTES, ERROR, JSON, SCHEMA_PATH, TEXT, Artifact, CapnpArtifact, is_textual, load_json
from smolcpu.artifact._index import CALLER_ATTRIBUTE, INTERRUPTED, RUN_ATTRIBUTE, ArtifactRecord, Rebuilt, RunIndex, RunInfo, preview
from smolcpu.artifact._signing import Signer, Verification, require_trusted, verify_signature
from smolcpu.artifact._store import ArtifactStore, FileStore, S3Store, Verified, key_of, open_store
from smolcpu.artifact._trust import TrustStore, parse_key

__all__ = [
    "BYTES",
    "CALLER_ATTRIBUTE",
    "INTERRUPTED",
    "ERROR",
    "JSON",
    "RUN_ATTRIBUTE",
    "SCHEMA_PATH",
    "TEXT",
    "Artifact",
    "ArtifactRecord",
    "ArtifactStore",
    "CapnpArtifact",
    "FileStore",
    "Rebuilt",
    "RunIndex",
    "RunInfo",
    "S3Store",
    "Signer",
    "TrustStore",
    "Verification",
    "Verified",
    "is_textual",
    "key_of",
    "load_json",
    "open_store",
    "parse_key",
    "preview",
    "require_trusted",
    "verify_signature",
]
