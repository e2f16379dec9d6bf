"""Ed25519 signatures on artifacts: who made it, and that nothing changed since."""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from smolcpu.artifact._artifact import Artifact
from smolcpu.errors import SignatureInvalid


class Signer:
    """An Ed25519 key that signs artifacts; ``pubkey`` names it inside each one."""

    def __init__(self, key: Ed25519PrivateKey | None = None) -> None:
        self._key = key or Ed25519PrivateKey.generate()
        self.pubkey: bytes = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @classmethod
    def from_seed(cls, seed: bytes) -> Signer:
        """A signer from a 32-byte private seed (for keys kept on disk)."""
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    def sign(self, artifact: Artifact) -> Artifact:
        """The artifact with this signer's pubkey and a signature over header and payload."""
        unsigned = artifact.replace(pubkey=self.pubkey, signature=b"")
        return unsigned.replace(signature=self._key.sign(unsigned.signing_bytes()))

    def __repr__(self) -> str:
        return f"<Signer pubkey={self.pubkey.hex()[:16]}…>"


def verify_signature(artifact: Artifact) -> None:
    """Raise :class:`SignatureInvalid` unless the artifact is signed by its ``pubkey`` and intact.

    The payload checksum is checked too, so a changed payload fails even when the checksum
    field was left as it was.
    """
    if not artifact.signature or not artifact.pubkey:
        raise SignatureInvalid(f"artifact {artifact.id} is not signed")
    artifact.verify_checksum()
    try:
        Ed25519PublicKey.from_public_bytes(artifact.pubkey).verify(
            artifact.signature, artifact.signing_bytes()
        )
    except (InvalidSignature, ValueError) as exc:
        raise SignatureInvalid(
            f"artifact {artifact.id}: signature does not match its header and payload"
        ) from exc


__all__ = ["Signer", "verify_signature"]
