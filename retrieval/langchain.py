"""A LangChain retriever over one chatbot's knowledge (:func:`retrieval.search.search`), for
chains built with LangChain: ``ChatbotRetriever(...) | format | prompt | llm | parser``.

Each hit becomes a ``Document`` whose ``page_content`` is the passage and whose metadata holds
``source``, ``score``, ``page`` and ``headings`` (when known), ``chunk_id``, ``source_id`` or
``faq_id``, and the rest of the chunk's metadata. Like every search, it is scoped to the one
chatbot it was made for.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field

from core.types import Hit
from db.search import Filters
from retrieval.search import Mode, load_chatbot, search


def to_document(hit: Hit) -> Document:
    metadata: dict[str, Any] = {
        **hit.metadata,
        "source": hit.source,
        "score": round(hit.score, 4),
        "chunk_id": hit.chunk_id,
        "page": hit.metadata.get("page"),
        "headings": list(hit.metadata.get("headings") or []),
    }
    if hit.source_id:
        metadata["source_id"] = hit.source_id
    if hit.faq_id:
        metadata["faq_id"] = hit.faq_id
    return Document(page_content=hit.content, metadata=metadata)


class ChatbotRetriever(BaseRetriever):
    """The ``k`` best passages of one chatbot for a query (hybrid search by default)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    pool: Any = Field(description="A psycopg_pool.ConnectionPool (db.open_pool(settings)).")
    settings: Any = Field(description="core.settings.Settings.")
    chatbot_id: str
    k: int = Field(default=5, ge=1, le=100)
    filters: Filters | None = None
    mode: Mode = "hybrid"

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        hits = search(
            self.pool,
            self.settings,
            chatbot=load_chatbot(self.pool, self.chatbot_id),
            query=query,
            k=self.k,
            filters=self.filters,
            mode=self.mode,
        )
        return [to_document(h) for h in hits]
