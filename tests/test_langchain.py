"""The LangChain retriever inside a real runnable chain: retriever | prompt | chat model |
parser, with LangChain's own fake chat model standing in for the LLM."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnablePassthrough
from psycopg_pool import ConnectionPool

from core.settings import Settings
from pipeline.embed import Embedder
from retrieval.langchain import ChatbotRetriever
from tests.knowledge import add_document, tenants

MINE = "Every bike rental includes a free helmet and a D-lock."
THEIRS = "The vault code for the Riverside safe is 7319-ALPHA."


class Prompts(BaseCallbackHandler):
    """Records what the chat model was given."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        self.seen += [m.content for batch in messages for m in batch]


def numbered(docs: list[Document]) -> str:
    return "\n".join(f"[{n}] {d.page_content}" for n, d in enumerate(docs, start=1))


def test_the_retriever_feeds_a_chain_with_one_chatbots_passages(
    pool: ConnectionPool, settings: Settings, embedder: Embedder
) -> None:
    with tenants(pool, "lc-mine", "lc-theirs") as (mine, theirs):
        add_document(pool, embedder, mine, "rentals.txt", [MINE], {"page": 4})
        add_document(pool, embedder, theirs, "safe.txt", [THEIRS, MINE])
        retriever = ChatbotRetriever(pool=pool, settings=settings, chatbot_id=mine.id, k=3)

        docs = retriever.invoke("Is a helmet included? What is the vault code?")
        prompt = ChatPromptTemplate.from_messages([
            ("system", "Answer from the context only.\n{context}"), ("human", "{question}"),
        ])  # fmt: skip
        llm = FakeListChatModel(responses=["A helmet is included [1]."])
        chain = (
            {"context": retriever | numbered, "question": RunnablePassthrough()}
            | prompt | llm | StrOutputParser()
        )  # fmt: skip
        prompts = Prompts()
        reply = chain.invoke("Is a helmet included?", config={"callbacks": [prompts]})

    assert [d.page_content for d in docs] == [MINE]  # never the other chatbot's chunks
    meta = docs[0].metadata
    assert meta["source"].startswith(mine.id) and meta["source"].endswith("/rentals.txt")
    assert meta["page"] == 4 and meta["headings"] == [] and 0 < meta["score"] <= 1
    assert reply == "A helmet is included [1]."
    assert f"[1] {MINE}" in prompts.seen[0] and "7319" not in " ".join(prompts.seen)
