"""The artifact store: every artifact of every run, kept as the JSON form of concept/002.

One interface, two backends: :class:`FileStore` (a directory, the embedded default) and
:class:`S3Store` (S3-compatible object storage, for more than one machine). Both lay
artifacts out under the key of concept/002::

    <origin>/<role>/<scope>/<timestamp>/<type>/<version>/<id>.json

(the MIME type's ``/`` makes two levels). ``put`` also records the artifact in the
:class:`RunIndex`, so that ``get`` by id and listing a run never scan the store.
"""

from __future__ import annotations

import abc
import dataclasses
import hashlib
import os
import tempfile
import urllib.parse
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from smolcpu import config
from smolcpu.artifact._artifact import Artifact
from smolcpu.artifact._index import RunIndex
from smolcpu.artifact._signing import require_trusted, verify_signature
from smolcpu.artifact._trust import TrustStore
from smolcpu.errors import ArtifactError, ArtifactNotFound, UsageError

SUFFIX = ".json"
MAX_SEGMENT = 120
"""Longest key segment kept verbatim; longer ones are cut and suffixed with a hash (a file
name may not exceed 255 bytes)."""

S3_PAGE = 1000
"""Keys per S3 listing request (S3's own maximum)."""

S3_ATTEMPTS = 4
"""Tries of one S3 request in all (the first and three retries) before its error is raised."""

_TEMP_PREFIX = ".tmp-"


def segment(value: str) -> str:
    """One key segment, safe as a file or directory name and as part of an S3 key.

    Percent-encoding leaves no ``/``, NUL or control character; ``''`` becomes ``_`` (and a
    literal ``_`` is escaped so the two stay apart); ``.`` and ``..`` are escaped so no
    segment can climb out of the store.
    """
    if value == "":
        return "_"
    if value == "_":
        return "%5F"
    text = urllib.parse.quote(value, safe="+,=@", errors="surrogatepass")
    if text.strip(".") == "":
        text = "%2E" * len(text)
    if len(text) > MAX_SEGMENT:
        digest = hashlib.sha256(value.encode("utf-8", errors="surrogatepass")).hexdigest()[:32]
        text = f"{text[: MAX_SEGMENT - 33]}~{digest}"
    return text


def key_of(artifact: Artifact) -> str:
    """The store key of an artifact (concept/002's prefix, each segment made safe)."""
    major, _, minor = artifact.type.partition("/")
    parts = (
        artifact.origin,
        artifact.role,
        artifact.scope,
        str(artifact.timestamp),
        major,
        minor,
        artifact.version,
    )
    return "/".join(segment(part) for part in parts) + "/" + segment(artifact.id) + SUFFIX


def _encoded(artifact: Artifact) -> bytes:
    try:
        return artifact.to_json().encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ArtifactError(f"artifact {artifact.id!r} has a text field that is not valid Unicode: {exc}") from exc


def decode_stored(data: bytes, key: str, *, trust: TrustStore | None = None) -> Artifact:
    """Read back what a store holds under ``key``, refusing anything that is not intact
    (and, given ``trust``, anything not signed by a key it holds).

    Raises:
        ArtifactError: not an artifact, or its header does not match the key it sits under.
        ChecksumMismatch: the payload changed.
        SignatureInvalid: it is signed and the signature does not cover what is there.
        UntrustedSigner: ``trust`` is given and the artifact is unsigned or signed by another key.
    """
    try:
        artifact = Artifact.from_json(data)
    except ArtifactError as exc:
        raise ArtifactError(f"stored artifact {key} is corrupt: {exc}") from exc
    if key_of(artifact) != key:
        raise ArtifactError(
            f"stored artifact {key} is corrupt: its header (id {artifact.id}) belongs under"
            f" {key_of(artifact)}"
        )
    artifact.verify_checksum()
    if trust is not None:
        require_trusted(artifact, trust)
    elif artifact.signature:
        verify_signature(artifact)
    return artifact


@dataclasses.dataclass(frozen=True, slots=True)
class Verified:
    """What :meth:`ArtifactStore.verify` found: how many artifacts read back intact, and what is wrong.

    ``corrupt``: keys whose bytes do not verify, each with why; ``missing``: artifacts the run
    index points to that the store does not hold (lost); ``leftovers``: temp files of writes
    that never finished (harmless: no listing shows them, and nothing points to them).
    """

    intact: int
    corrupt: tuple[tuple[str, str], ...]
    missing: tuple[tuple[str, str], ...]
    leftovers: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Whether every artifact is there and intact."""
        return not self.corrupt and not self.missing


class ArtifactStore(abc.ABC):
    """Where artifacts are kept. A backend supplies ``_write``, ``_read`` and ``keys`` over
    bytes; keys, verification and indexing are the same for all.

    With ``require_trusted`` (default ``config.REQUIRE_TRUSTED``), every read refuses an
    artifact that is not signed by a key of ``trust`` (default: the trust store at
    ``config.trust_path()``) with :class:`~smolcpu.errors.UntrustedSigner`.
    """

    url: str

    def __init__(
        self, *, index: RunIndex | None = None, trust: TrustStore | None = None, require_trusted: bool | None = None
    ) -> None:
        required = config.REQUIRE_TRUSTED if require_trusted is None else require_trusted
        self.trust = (trust if trust is not None else TrustStore()) if required else None
        self._owns_index = index is None
        self.index = index if index is not None else RunIndex()
        self.closed = False

    def _check_open(self) -> None:
        if self.closed:
            raise UsageError(f"artifact store {self.url} is closed; open it again with open_store()")

    @abc.abstractmethod
    def _write(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` atomically: all of it or none of it."""

    @abc.abstractmethod
    def _read(self, key: str) -> bytes | None:
        """The bytes under ``key``, or None when there are none."""

    @abc.abstractmethod
    def _remove(self, key: str) -> None:
        """Remove what is under ``key`` (nothing if there is nothing)."""

    @abc.abstractmethod
    def keys(self) -> Iterator[str]:
        """Every key in the store (unordered), never a half-written one."""

    def put(self, artifact: Artifact) -> str:
        """Keep an artifact and index it (its ``run`` attribute ties it to a run); returns its key."""
        return self.put_many((artifact,))[0]

    def put_many(self, artifacts: Sequence[Artifact]) -> list[str]:
        """Keep several artifacts, then index them in one transaction; returns their keys.

        Each artifact is stored atomically, but not the batch: after a crash some may be
        stored and not yet indexed, which ``smol runs --rebuild`` recovers.
        """
        self._check_open()
        items = [(key_of(artifact), _encoded(artifact)) for artifact in artifacts]
        for key, data in items:
            self._write(key, data)
        self.index.record_many([(artifact, key) for artifact, (key, _) in zip(artifacts, items, strict=True)])
        return [key for key, _ in items]

    def load(self, key: str) -> Artifact:
        """The artifact under ``key``, verified.

        Raises:
            ArtifactNotFound: nothing under that key.
            ArtifactError: what is there is not intact (see :func:`decode_stored`).
        """
        self._check_open()
        data = self._read(key)
        if data is None:
            raise ArtifactNotFound(f"no artifact under key {key} in {self.url}")
        return decode_stored(data, key, trust=self.trust)

    def get(self, artifact_id: str, *, search: bool = True) -> Artifact:
        """The artifact with this id, verified (checksum, and signature when signed).

        Found through the index; an artifact the index does not know (stored by another
        machine, or before a crash) is looked for in the store and then indexed, unless
        ``search`` is false: that lists the whole store, which no one who may guess ids (a
        server's caller) should be able to make it do.

        Raises:
            ArtifactNotFound: no such artifact.
            ArtifactError: it is there but corrupt (``ChecksumMismatch`` for a changed payload).
        """
        self._check_open()
        key = self.index.key_of(artifact_id)
        if key is not None:
            data = self._read(key)
            if data is not None:
                return decode_stored(data, key, trust=self.trust)
            self.index.forget(artifact_id)
        wanted = "/" + segment(artifact_id) + SUFFIX
        for key in self.keys() if search else ():
            if key.endswith(wanted):
                artifact = self.load(key)
                self.index.record(artifact, key)
                return artifact
        raise ArtifactNotFound(
            f"no artifact {artifact_id} in {self.url}; list what a run stored with `smol trace RUN_ID`"
        )

    def delete(self, artifact_id: str) -> None:
        """Remove an artifact for good (what someone asked to be forgotten, such as a stored
        API response); its lineage edges stay, as after ``forget``.

        Raises:
            ArtifactNotFound: no such artifact.
        """
        key = self.index.key_of(artifact_id) or key_of(self.get(artifact_id))
        self._remove(key)
        self.index.forget(artifact_id)

    def verify(self) -> Verified:
        """Read back every artifact in the store and every one the run index points to.

        Each artifact is checked as ``load`` checks it (well-formed, under its own key,
        checksum, signature).

        Raises:
            ArtifactError: the store itself cannot be read (not a bad artifact: a bad store).
        """
        self._check_open()
        corrupt: list[tuple[str, str]] = []
        keys = set()
        for key in self.keys():
            data = self._read(key)
            if data is None:
                continue  # removed while we looked
            keys.add(key)
            try:
                decode_stored(data, key, trust=self.trust)
            except ArtifactError as exc:
                corrupt.append((key, str(exc)))
        missing = [(artifact_id, key) for artifact_id, key in self.index.keys() if key not in keys]
        return Verified(len(keys) - len(corrupt), tuple(sorted(corrupt)), tuple(sorted(missing)), self.leftovers())

    def leftovers(self) -> tuple[str, ...]:
        """Traces of writes that never finished (none in a store whose writes are single puts)."""
        return ()

    def iter_artifacts(self) -> Iterator[Artifact]:
        """Every artifact in the store, verified, in no particular order."""
        for key in self.keys():
            yield self.load(key)

    def close(self) -> None:
        """Release the backend and the index this store opened; closing twice is harmless."""
        if self.closed:
            return
        self.closed = True
        if self._owns_index:
            self.index.close()

    def __enter__(self) -> ArtifactStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url} {'closed' if self.closed else 'open'}>"


class FileStore(ArtifactStore):
    """Artifacts as files under a directory; each write is temp file, fsync, rename.

    A crash leaves either the whole artifact or none of it (and, at worst, a ``.tmp-`` file
    that no listing shows). The directory entry is not fsynced, so a power cut may lose
    the last artifacts written, never leave one half-written.
    """

    def __init__(
        self,
        root: Path | str,
        *,
        index: RunIndex | None = None,
        fsync: bool = True,
        trust: TrustStore | None = None,
        require_trusted: bool | None = None,
    ) -> None:
        self.root = Path(root).expanduser().resolve()
        self.url = str(self.root)
        self._fsync = fsync
        self._made: set[str] = set()
        self.root.mkdir(parents=True, exist_ok=True)
        super().__init__(index=index, trust=trust, require_trusted=require_trusted)

    def _path(self, key: str) -> Path:
        parts = key.split("/")
        if ".." in parts or "" in parts:
            raise UsageError(f"key {key!r} points outside the store {self.root}")
        return self.root.joinpath(*parts)

    def _folder(self, directory: str) -> Path:
        """Make the key's directories: the origin/role/scope part once, then the levels below
        it (new for nearly every artifact, as they start with its timestamp) one by one."""
        parts = directory.split("/")
        head = "/".join(parts[:3])
        folder = self.root / head
        if head not in self._made:
            folder.mkdir(parents=True, exist_ok=True)
            self._made.add(head)
        for part in parts[3:]:
            folder = folder / part
            try:
                os.mkdir(folder)
            except FileExistsError:
                pass
        return folder

    def _write(self, key: str, data: bytes) -> None:
        directory, _, name = key.rpartition("/")
        try:
            try:
                folder = self._folder(directory)
            except FileNotFoundError:
                self._made.clear()
                folder = self._folder(directory)
            fd, temp = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=folder)
        except OSError as exc:
            raise ArtifactError(f"cannot write artifact {key} in {self.root}: {exc}") from exc
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                if self._fsync:
                    file.flush()
                    os.fsync(file.fileno())
            os.replace(temp, folder / name)
        except BaseException as exc:
            Path(temp).unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise ArtifactError(f"cannot write artifact {key} in {self.root}: {exc}") from exc
            raise

    def _read(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ArtifactError(f"cannot read artifact {key} in {self.root}: {exc}") from exc

    def _remove(self, key: str) -> None:
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise ArtifactError(f"cannot remove artifact {key} in {self.root}: {exc}") from exc

    def keys(self) -> Iterator[str]:
        for folder, _, files in os.walk(self.root):
            relative = Path(folder).relative_to(self.root).as_posix()
            for name in files:
                if name.endswith(SUFFIX) and not name.startswith(_TEMP_PREFIX):
                    yield f"{relative}/{name}"

    def leftovers(self) -> tuple[str, ...]:
        """Temp files of writes cut short by a crash (a kill between write and rename)."""
        return tuple(
            sorted(
                (Path(folder) / name).relative_to(self.root).as_posix()
                for folder, _, files in os.walk(self.root)
                for name in files
                if name.startswith(_TEMP_PREFIX)
            )
        )


class S3Store(ArtifactStore):
    """Artifacts as objects in an S3-compatible bucket (AWS, MinIO, moto, ...).

    The endpoint comes from ``SMOL_S3_ENDPOINT`` (or ``AWS_ENDPOINT_URL``), credentials from
    the standard AWS variables. A single PUT is atomic in S3, so no temp object is needed.
    A request that times out (``config.STORE_TIMEOUT_S``) or meets a 5xx is tried again, up
    to ``S3_ATTEMPTS`` times in all, with botocore's exponential backoff and jitter between.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        index: RunIndex | None = None,
        trust: TrustStore | None = None,
        require_trusted: bool | None = None,
    ) -> None:
        import boto3
        from botocore.config import Config

        if not bucket:
            raise UsageError("an S3 store needs a bucket: s3://BUCKET/PREFIX")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.url = f"s3://{bucket}/{self.prefix}"
        self._client = boto3.client(
            "s3",
            endpoint_url=endpoint_url or config.s3_endpoint(),
            config=Config(
                s3={"addressing_style": "path"},
                connect_timeout=config.STORE_TIMEOUT_S,
                read_timeout=config.STORE_TIMEOUT_S,
                retries={"total_max_attempts": S3_ATTEMPTS, "mode": "standard"},
            ),
        )
        super().__init__(index=index, trust=trust, require_trusted=require_trusted)

    def _call(self, what: str, key: str, method: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self._client, method)(Bucket=self.bucket, **kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404"):
                return None
            hint = " (create the bucket first)" if code == "NoSuchBucket" else ""
            meta = exc.response.get("ResponseMetadata", {})
            if meta.get("HTTPStatusCode", 0) >= 500:
                attempts = meta.get("RetryAttempts", 0) + 1
                status = meta["HTTPStatusCode"]
                hint = f" (HTTP {status} from the server, {attempts} attempts; is the S3 service healthy?)"
            raise ArtifactError(f"cannot {what} {key} in {self.url}: {code or exc}{hint}") from exc
        except BotoCoreError as exc:
            raise ArtifactError(
                f"cannot {what} {key} in {self.url}: {exc} (check SMOL_S3_ENDPOINT and AWS credentials)"
            ) from exc

    def _write(self, key: str, data: bytes) -> None:
        self._call(
            "write", key, "put_object", Key=self.prefix + key, Body=data, ContentType="application/json"
        )

    def _read(self, key: str) -> bytes | None:
        response = self._call("read", key, "get_object", Key=self.prefix + key)
        return None if response is None else response["Body"].read()

    def _remove(self, key: str) -> None:
        self._call("remove", key, "delete_object", Key=self.prefix + key)

    def keys(self) -> Iterator[str]:
        token: dict[str, str] = {}
        while True:
            page = self._call("list", "keys", "list_objects_v2", Prefix=self.prefix, MaxKeys=S3_PAGE, **token)
            for entry in page.get("Contents", ()):
                if entry["Key"].endswith(SUFFIX):
                    yield entry["Key"][len(self.prefix) :]
            if not page.get("IsTruncated"):
                return
            token = {"ContinuationToken": page["NextContinuationToken"]}

    def close(self) -> None:
        if not self.closed:
            self._client.close()
        super().close()


def open_store(
    url: str | None = None,
    *,
    index: RunIndex | None = None,
    trust: TrustStore | None = None,
    require_trusted: bool | None = None,
) -> ArtifactStore:
    """The store at ``url``: a directory path, or ``s3://bucket/prefix`` (default: config's).

    Without ``index``, the store opens the run index at ``config.index_path()`` and closes
    it with itself. ``trust`` and ``require_trusted`` are as in :class:`ArtifactStore`.
    """
    verification = {"trust": trust, "require_trusted": require_trusted}
    url = url or config.store_url()
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme == "s3":
        return S3Store(parsed.netloc, parsed.path, index=index, **verification)
    if parsed.scheme == "file":
        return FileStore(urllib.parse.unquote(parsed.path), index=index, **verification)
    if parsed.scheme and len(parsed.scheme) > 1:
        raise UsageError(f"unknown artifact store {url!r}: give a directory or s3://bucket/prefix")
    return FileStore(url, index=index, **verification)


__all__ = ["ArtifactStore", "FileStore", "S3Store", "Verified", "decode_stored", "key_of", "open_store", "segment"]
