"""Synthetic search data: many chatbots whose chunks are random-but-clustered unit vectors.

A global pool of topics (a centre vector and a few topic words each) is shared by all
chatbots, so every chatbot's neighbours sit among other chatbots' rows in the one HNSW graph
(the hard, realistic case for a filtered search). Each chunk is its topic's centre plus noise,
normalised; its text mixes topic words and common words, so full-text search has signal too.
Rows go in with binary ``COPY`` into our ``chunks`` table; chatbots and sources are created
through our db functions.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

DIMS = 384
TOPICS = 400
TOPICS_PER_CHATBOT = 25
TOPIC_WORDS = 12
VOCAB = 3000
NOISE = 0.9  # norm of the noise relative to the unit centre
_COPY_COLUMNS = (
    "chatbot_id, source_id, ordinal, content, content_hash, tokens, metadata,"
    " embedding_model, embedding"
)
_COPY_TYPES = ["uuid", "uuid", "int4", "text", "text", "int4", "jsonb", "text", "vector"]


@dataclass(frozen=True)
class World:
    centres: np.ndarray  # (TOPICS, DIMS), unit rows
    topic_words: list[list[str]]
    vocab: list[str]
    chatbot_topics: dict[str, np.ndarray]  # chatbot id -> its topic indexes


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def make_world(rng: np.random.Generator, chatbot_ids: list[str]) -> World:
    syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "pe", "zu", "da", "fi"]
    vocab = sorted(
        {"".join(rng.choice(syllables, size=int(rng.integers(2, 5)))) for _ in range(VOCAB * 2)}
    )[:VOCAB]
    topic_words = [list(rng.choice(vocab, size=TOPIC_WORDS, replace=False)) for _ in range(TOPICS)]
    return World(
        centres=_unit(rng.standard_normal((TOPICS, DIMS))),
        topic_words=topic_words,
        vocab=vocab,
        chatbot_topics={
            c: rng.choice(TOPICS, size=TOPICS_PER_CHATBOT, replace=False) for c in chatbot_ids
        },
    )


def noisy(rng: np.random.Generator, centres: np.ndarray) -> np.ndarray:
    noise = rng.standard_normal(centres.shape) * (NOISE / np.sqrt(DIMS))
    return _unit(centres + noise)


def texts_for(rng: np.random.Generator, world: World, topics: np.ndarray, words: int) -> list[str]:
    """One text per topic index: half its topic's words, half common words, shuffled."""
    topic_words = np.asarray(world.topic_words)
    mine = topic_words[topics[:, None], rng.integers(0, TOPIC_WORDS, (len(topics), words // 2))]
    common = np.asarray(world.vocab)[rng.integers(0, len(world.vocab), (len(topics), words // 2))]
    mixed = rng.permuted(np.concatenate([mine, common], axis=1), axis=1)
    return [" ".join(row) for row in mixed]


def rows_for(
    rng: np.random.Generator, world: World, chatbot_id: str, source_id: str, n: int, model: str
) -> Iterator[tuple[object, ...]]:
    topics = rng.choice(world.chatbot_topics[chatbot_id], size=n)
    vectors = noisy(rng, world.centres[topics])
    texts = texts_for(rng, world, topics, 60)
    bot, source, meta = uuid.UUID(chatbot_id), uuid.UUID(source_id), Jsonb({})
    for i in range(n):
        yield (bot, source, i, texts[i], f"{chatbot_id}:{i}", 80, meta, model, vectors[i])


def create_chatbots(conn: psycopg.Connection, count: int) -> list[tuple[str, str]]:
    """``count`` chatbots with one document source each: [(chatbot id, source id)]."""
    from db import chatbots as chatbots_db
    from db import sources as sources_db

    owner = chatbots_db.create_profile(conn, name="bench", email="bench@intaj.localhost")
    made = []
    for i in range(count):
        bot = chatbots_db.create(conn, user_id=owner, name=f"bench-{i:03d}")
        src = sources_db.add(
            conn, chatbot_id=bot.id, type="txt", path=f"bench/{i}.txt", name=f"{i}.txt"
        )
        made.append((bot.id, src.id))
    conn.commit()
    return made


def copy_chunks(
    conn: psycopg.Connection,
    rng: np.random.Generator,
    world: World,
    owners: list[tuple[str, str]],
    *,
    per_chatbot: int,
    model: str,
) -> int:
    statement = sql.SQL("COPY chunks ({}) FROM STDIN WITH (FORMAT BINARY)").format(
        sql.SQL(_COPY_COLUMNS)
    )
    written = 0
    with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.set_types(_COPY_TYPES)
        for chatbot_id, source_id in owners:
            for row in rows_for(rng, world, chatbot_id, source_id, per_chatbot, model):
                copy.write_row(row)
                written += 1
    conn.commit()
    return written


@dataclass(frozen=True)
class Query:
    chatbot_id: str
    vector: np.ndarray
    text: str


def queries(rng: np.random.Generator, world: World, count: int) -> list[Query]:
    ids = list(world.chatbot_topics)
    out = []
    for _ in range(count):
        chatbot = ids[int(rng.integers(len(ids)))]
        topic = int(rng.choice(world.chatbot_topics[chatbot]))
        vector = noisy(rng, world.centres[topic][None, :])[0]
        words = rng.choice(world.topic_words[topic], size=4, replace=False)
        out.append(Query(chatbot, vector, " ".join(words)))
    return out
