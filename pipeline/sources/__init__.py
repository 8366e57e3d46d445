"""Fetching a data source's bytes: storage backends behind one protocol, chosen by scheme.

``data_sources.path`` forms:
- ``chatbot-id/uuid/name.pdf`` (no scheme): the default storage (a local directory);
- ``s3://bucket/key``: S3-compatible object storage;
- ``supabase://bucket/key``: Supabase Storage's REST API;
- ``http://`` / ``https://``: a URL, fetched through the guarded client.
"""

from pipeline.sources.registry import Storage, fetch, storage_for, upload_key

__all__ = ["Storage", "fetch", "storage_for", "upload_key"]
