"""Blobs in an S3-compatible bucket (boto3), optionally under a key prefix.

Uploads use boto3's managed transfer: one PUT below ``multipart_threshold_bytes``, a multipart
upload above it; S3 makes the object visible only when the upload completes, so readers never see
a partial blob. Downloads go to a temp file next to the destination and are renamed into place.
``open_range`` is one GetObject with a ``Range`` header: S3 sends only those bytes.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

from darkroom.storage.blobs.base import (
    MAX_KEY_BYTES,
    BlobInfo,
    BlobStore,
    _write_atomically,
    check_range,
    content_key,
    validate_key,
    validate_prefix,
)
from darkroom.storage.errors import BlobNotFound, InvalidBlobKey, StorageError

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = ["S3Blobs", "make_s3_client"]

_MiB = 1 << 20
_MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


def make_s3_client(*, endpoint_url: str = "", region: str = "") -> Any:
    """A boto3 S3 client; credentials come from the usual AWS environment variables and files.

    The region defaults to the AWS configuration, then ``us-east-1``. With an ``endpoint_url``
    (MinIO, Ceph, R2, ...) path-style addressing is used, which every S3-compatible store accepts.
    """
    import boto3  # type: ignore[import-untyped]  # imported here: local-only processes skip its cost
    from botocore.config import Config  # type: ignore[import-untyped]

    session = boto3.session.Session()
    config = Config(
        region_name=region or session.region_name or "us-east-1",
        retries={"mode": "standard", "max_attempts": 5},
        s3={"addressing_style": "path"} if endpoint_url else {},
    )
    return session.client("s3", endpoint_url=endpoint_url or None, config=config)


class S3Blobs(BlobStore):
    """Blobs as objects ``{prefix}/{key}`` in ``bucket``. ``client`` defaults to :func:`make_s3_client`."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str = "",
        region: str = "",
        client: Any = None,
        multipart_threshold_bytes: int = 64 * _MiB,
        multipart_chunk_bytes: int = 16 * _MiB,
        max_concurrency: int = 4,
        list_page_size: int = 1000,
    ) -> None:
        from boto3.s3.transfer import TransferConfig  # type: ignore[import-untyped]

        self.bucket = bucket
        self.prefix = validate_key(prefix.strip("/")) if prefix.strip("/") else ""
        self.endpoint_url = endpoint_url
        self._base = f"{self.prefix}/" if self.prefix else ""
        self._client: Any = client if client is not None else make_s3_client(endpoint_url=endpoint_url, region=region)
        self._transfer = TransferConfig(
            multipart_threshold=multipart_threshold_bytes,
            multipart_chunksize=multipart_chunk_bytes,
            max_concurrency=max_concurrency,
        )
        self._page_size = list_page_size

    def __repr__(self) -> str:
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"S3Blobs('s3://{self.bucket}/{self.prefix}'{where})"

    def put_file(self, key: str, path: Path, *, content_type: str | None = None) -> BlobInfo:
        name = self._name(key)
        extra = {"ContentType": content_type} if content_type else None
        with self._errors(key, "upload"):
            self._client.upload_file(str(path), self.bucket, name, ExtraArgs=extra, Config=self._transfer)
        return self.stat(key)

    def put_bytes(self, key: str, data: bytes, *, content_type: str | None = None) -> BlobInfo:
        name = self._name(key)
        extra = {"ContentType": content_type} if content_type else {}
        with self._errors(key, "upload"):
            self._client.put_object(Bucket=self.bucket, Key=name, Body=data, **extra)
        return self.stat(key)

    def put_content(self, path: Path, *, prefix: str = "cas", suffix: str = "") -> BlobInfo:
        content_key("0" * 64, prefix=prefix, suffix=suffix)  # a bad prefix or suffix fails before hashing
        digest = hashlib.sha256()
        with Path(path).open("rb") as src:
            while chunk := src.read(_MiB):
                digest.update(chunk)
        key = content_key(digest.hexdigest(), prefix=prefix, suffix=suffix)
        try:
            return self.stat(key)
        except BlobNotFound:
            return self.put_file(key, path)

    def get_file(self, key: str, dest: Path) -> Path:
        name = self._name(key)

        def fill(tmp: Path) -> None:
            with self._errors(key, "download"):
                self._client.download_file(self.bucket, name, str(tmp), Config=self._transfer)

        return _write_atomically(Path(dest), fill)

    def get_bytes(self, key: str) -> bytes:
        with self.open(key) as body:
            return body.read()

    def open(self, key: str) -> BinaryIO:
        name = self._name(key)
        with self._errors(key, "download"):
            response = self._client.get_object(Bucket=self.bucket, Key=name)
        return io.BufferedReader(_Body(response["Body"]), buffer_size=_MiB)

    def open_range(self, key: str, start: int, length: int) -> BinaryIO:
        check_range(key, start, length)
        name = self._name(key)
        if length == 0:  # HTTP cannot ask for no bytes; a missing blob must still be BlobNotFound
            self.stat(key)
            return io.BytesIO()
        with self._errors(key, "download"):
            try:
                wanted = f"bytes={start}-{start + length - 1}"
                response = self._client.get_object(Bucket=self.bucket, Key=name, Range=wanted)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "InvalidRange":
                    raise
                return io.BytesIO()  # 416: the range starts at or past the end
        return io.BufferedReader(_Body(response["Body"]), buffer_size=min(length, _MiB))

    def stat(self, key: str) -> BlobInfo:
        name = self._name(key)
        with self._errors(key, "stat"):
            head = self._client.head_object(Bucket=self.bucket, Key=name)
        return BlobInfo(key, int(head["ContentLength"]), _etag(head), head["LastModified"].timestamp())

    def delete(self, key: str) -> bool:
        # S3's DELETE does not say whether the object existed, hence the HEAD before it.
        existed = self.exists(key)
        with self._errors(key, "delete"):
            self._client.delete_object(Bucket=self.bucket, Key=self._name(key))
        return existed

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        validate_prefix(prefix)
        return self._list(prefix)

    def _list(self, prefix: str) -> Iterator[BlobInfo]:
        paginator = self._client.get_paginator("list_objects_v2")
        pages = paginator.paginate(
            Bucket=self.bucket, Prefix=self._base + prefix, PaginationConfig={"PageSize": self._page_size}
        )
        with self._errors(prefix, "list"):
            for page in pages:  # S3 returns keys in UTF-8 byte order, the order promised
                for obj in page.get("Contents", ()):
                    key = str(obj["Key"])[len(self._base) :]
                    try:
                        validate_key(key)
                    except InvalidBlobKey:
                        continue  # written by something else (e.g. a console's "folder/" marker)
                    yield BlobInfo(key, int(obj["Size"]), _etag(obj), obj["LastModified"].timestamp())

    def _name(self, key: str) -> str:
        name = self._base + validate_key(key)
        if len(name.encode("utf-8")) > MAX_KEY_BYTES:
            raise InvalidBlobKey(f"invalid blob key {key!r}: with the prefix it exceeds {MAX_KEY_BYTES} bytes")
        return name

    @contextmanager
    def _errors(self, key: str, action: str) -> Iterator[None]:
        try:
            yield
        except ClientError as exc:
            error = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if str(error.get("Code")) in _MISSING_CODES or (status == 404 and error.get("Code") != "NoSuchBucket"):
                raise BlobNotFound(f"no blob {key!r} in {self!r}") from None
            raise StorageError(f"{action} of blob {key!r} in {self!r} failed: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"{action} of blob {key!r} in {self!r} failed: {exc}") from exc


class _StreamingBody(Protocol):
    """What :class:`_Body` uses of botocore's ``StreamingBody``."""

    def read(self, amt: int) -> bytes: ...

    def close(self) -> None: ...


class _Body(io.RawIOBase):
    """botocore's streaming body as a raw file, so ``open`` returns a real :class:`BinaryIO`."""

    def __init__(self, body: _StreamingBody) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        data: bytes = self._body.read(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


def _etag(obj: Mapping[str, object]) -> str | None:
    etag = obj.get("ETag")
    return str(etag).strip('"') if etag else None
