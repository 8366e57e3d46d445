"""Fetching a data source's bytes: storage backends behind one protocol, chosen by scheme.

``data_sources.path`` forms:
- ``chatbot-id/uuid/name.pdf`` (no scheme): the default storage (a local directory);
- ``s3://bucket/key``: S3-compatible object storage;
- ``supabase://bucket/key``: Supabase Storage's REST API;
- ``http://`` / ``https://``: a URL, fetched through the guarded client.

A stored path (any form but a URL) must start with its chatbot's id (:func:`check_owner`).
"""

from pipeline.sources.registry import (
    Storage,
    check_owner,
    fetch,
    storage_for,
    upload_key,
)

__all__ = ["Storage", "check_owner", "fetch", "storage_for", "upload_key"]
