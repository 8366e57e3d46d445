"""S3-compatible object storage (``s3://bucket/key``): AWS S3, MinIO, Supabase Storage's S3
endpoint.

The endpoint is the operator's (``INTAJ_S3_ENDPOINT_URL``), not a user's, so it is not fetched
through the SSRF guard. Credentials come from ``INTAJ_S3_ACCESS_KEY_ID`` /
``INTAJ_S3_SECRET_ACCESS_KEY`` when set, else boto3's usual chain (``AWS_*`` variables,
``~/.aws``, instance roles). The size limit is checked twice: on ``ContentLength`` before the
download, and by reading at most ``max_bytes + 1`` bytes.
"""

from __future__ import annotations

from typing import Any

from core.errors import ConfigError, SourceError
from core.settings import Settings
from core.types import Document

_MISSING = frozenset({"404", "NoSuchKey", "NoSuchBucket", "NotFound"})
_DENIED = frozenset({"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"})


def split_s3_path(path: str) -> tuple[str, str]:
    """``s3://bucket/some/key`` -> ``("bucket", "some/key")``."""
    if not path.startswith("s3://"):
        raise ConfigError(f"{path!r} is not an s3://bucket/key path")
    bucket, _, key = path.removeprefix("s3://").partition("/")
    if not bucket or not key:
        raise ConfigError(f"{path!r} needs both a bucket and a key: s3://bucket/key")
    return bucket, key


class S3Storage:
    scheme = "s3"

    def __init__(self, settings: Settings, *, client: Any = None):
        self._client = client or _make_client(settings)

    def read(self, key: str, *, max_bytes: int) -> Document:
        bucket, name = split_s3_path(key)
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            head = self._client.head_object(Bucket=bucket, Key=name)
            _check_size(key, int(head.get("ContentLength", 0)), max_bytes)
            obj = self._client.get_object(Bucket=bucket, Key=name)
            _check_size(key, int(obj.get("ContentLength", 0)), max_bytes)
            with obj["Body"] as body:
                data = body.read(max_bytes + 1)
        except ClientError as e:
            raise _client_error(key, e) from e
        except BotoCoreError as e:
            raise _unreachable(key, e) from e
        _check_size(key, len(data), max_bytes)
        mime = obj.get("ContentType") or None
        return Document(data=data, name=name.rpartition("/")[2], mime=mime, url=key)

    def write(self, key: str, data: bytes) -> str:
        bucket, name = split_s3_path(key)
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.put_object(Bucket=bucket, Key=name, Body=data)
        except ClientError as e:
            raise _client_error(key, e) from e
        except BotoCoreError as e:
            raise _unreachable(key, e) from e
        return key

    def delete(self, key: str) -> None:
        bucket, name = split_s3_path(key)
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.delete_object(Bucket=bucket, Key=name)
        except ClientError as e:
            if _error_code(e) not in _MISSING:
                raise _client_error(key, e) from e
        except BotoCoreError as e:
            raise _unreachable(key, e) from e


def _make_client(settings: Settings) -> Any:
    import boto3
    from botocore.config import Config

    secret = settings.s3_secret_access_key
    return boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        region_name=settings.s3_region,
        aws_access_key_id=settings.s3_access_key_id,
        aws_secret_access_key=secret.get_secret_value() if secret else None,
        config=Config(
            connect_timeout=10,
            read_timeout=60,
            retries={"max_attempts": 3, "mode": "standard"},
            # Path-style works with MinIO and Supabase; AWS still accepts it.
            s3={"addressing_style": "path"},
        ),
    )


def _check_size(key: str, size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise SourceError(
            f"{key} is {size} bytes or more, over the limit of {max_bytes} (INTAJ_MAX_FILE_BYTES)",
            code="source_too_large",
        )


def _error_code(e: Any) -> str:
    err = e.response.get("Error", {})
    return str(err.get("Code") or e.response.get("ResponseMetadata", {}).get("HTTPStatusCode"))


def _client_error(key: str, e: Any) -> SourceError:
    code = _error_code(e)
    if code in _MISSING:
        return SourceError(
            f"no object at {key}: check the bucket and key, or upload it again",
            code="source_missing",
        )
    if code in _DENIED:
        return SourceError(
            f"access to {key} was refused ({code}): check the S3 credentials and bucket policy",
            code="forbidden",
        )
    status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    return SourceError(
        f"S3 request for {key} failed ({code})", code="fetch_failed", transient=status >= 500
    )


def _unreachable(key: str, e: Exception) -> SourceError:
    return SourceError(
        f"object storage did not answer for {key} ({e}); check INTAJ_S3_ENDPOINT_URL",
        code="source_unavailable",
        transient=True,
    )
