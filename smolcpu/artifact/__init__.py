"""The artifact layer: the Artifact message type, its codecs and signatures, and the store.

Nothing here imports from any layer above.
"""

from smolcpu.artifact._artifact import BYTES, ERROR, JSON, SCHEMA_PATH, TEXT, Artifact, CapnpArtifact
from smolcpu.artifact._signing import Signer, verify_signature

__all__ = [
    "BYTES",
    "ERROR",
    "JSON",
    "SCHEMA_PATH",
    "TEXT",
    "Artifact",
    "CapnpArtifact",
    "Signer",
    "verify_signature",
]
