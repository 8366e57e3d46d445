"""Chunking: token-sized, structure-aware, never beyond the model's window."""

from __future__ import annotations

from core.types import Parsed, Section
from pipeline.chunk import ChunkSpec, chunk_document, faq_chunk
from pipeline.embed import Embedder

LONG = " ".join(
    f"Sentence number {i} explains one more detail of the rental policy." for i in range(200)
)


def test_chunks_stay_within_the_model_window(embedder: Embedder) -> None:
    spec = ChunkSpec(max_tokens=10_000, overlap_tokens=32).fitted(embedder.max_tokens)
    parsed = Parsed(sections=(Section(LONG, page=1, headings=("Rentals", "Late returns")),))
    chunks = chunk_document(parsed, count_tokens=embedder.count_tokens, spec=spec)
    assert len(chunks) > 5
    assert max(c.tokens for c in chunks) <= embedder.max_tokens - 2
    assert all(c.tokens == embedder.count_tokens(c.embed_text) for c in chunks)


def test_chunks_never_cross_pages_or_headings(embedder: Embedder) -> None:
    parsed = Parsed(
        sections=(
            Section("Page one text.", page=1, headings=("A",)),
            Section("More page one text.", page=1, headings=("A",)),
            Section("Page two text.", page=2, headings=("A",)),
            Section("Under another heading.", page=2, headings=("A", "B")),
        ),
        title="Handbook",
    )
    chunks = chunk_document(parsed, count_tokens=embedder.count_tokens, spec=ChunkSpec())
    assert [(c.metadata.get("page"), c.metadata.get("headings")) for c in chunks] == [
        (1, ["A"]),
        (2, ["A"]),
        (2, ["A", "B"]),
    ]
    assert chunks[0].content == "Page one text.\n\nMore page one text."
    assert chunks[2].embed_text == "A > B\nUnder another heading."
    assert all(c.metadata["title"] == "Handbook" for c in chunks)
    assert [c.ordinal for c in chunks] == [0, 1, 2]


def test_chunks_never_join_two_divisions(embedder: Embedder) -> None:
    parsed = Parsed(
        sections=(
            Section("We open daily at nine.", headings=("FAQ",), part=1),
            Section("Helmets are included.", headings=("FAQ",), part=2),
            Section("Kids' sizes too.", headings=("FAQ",), part=2),
        )
    )
    chunks = chunk_document(parsed, count_tokens=embedder.count_tokens, spec=ChunkSpec())
    assert [c.content for c in chunks] == [
        "We open daily at nine.",
        "Helmets are included.\n\nKids' sizes too.",
    ]


def test_overlap_repeats_a_little_context(embedder: Embedder) -> None:
    parsed = Parsed(sections=(Section(LONG),))
    chunks = chunk_document(
        parsed,
        count_tokens=embedder.count_tokens,
        spec=ChunkSpec(max_tokens=128, overlap_tokens=24),
    )
    first_tail = chunks[0].content.split()[-3:]
    assert " ".join(first_tail) in chunks[1].content


def test_chunking_is_deterministic(embedder: Embedder) -> None:
    parsed = Parsed(sections=(Section(LONG, page=3),))
    once = chunk_document(parsed, count_tokens=embedder.count_tokens, spec=ChunkSpec())
    again = chunk_document(parsed, count_tokens=embedder.count_tokens, spec=ChunkSpec())
    assert [c.content_hash for c in once] == [c.content_hash for c in again]


def test_faq_chunk_embeds_the_question_and_stores_both(embedder: Embedder) -> None:
    chunk = faq_chunk(
        question=" Do you rent e-bikes? ",
        answer="Yes, 20 of them.",
        count_tokens=embedder.count_tokens,
    )
    assert chunk.embed_text == "Do you rent e-bikes?"
    assert chunk.content == "Do you rent e-bikes?\n\nYes, 20 of them."
    assert chunk.metadata == {
        "kind": "faq",
        "question": "Do you rent e-bikes?",
        "answer": "Yes, 20 of them.",
    }


def test_editing_one_paragraph_changes_at_most_three_chunks(embedder: Embedder) -> None:
    """Boundaries are paragraph-aligned and content-defined: an edit does not shift the
    chunks after it, so re-ingesting re-embeds only the chunks around the edit."""
    paragraphs = [
        f"Rule {i}: " + " ".join(f"bikes booked for slot {i * j} are held {j} minutes." for j in
                                 range(1 + i % 4))
        for i in range(120)
    ]  # fmt: skip

    def hashes(paras: list[str]) -> list[str]:
        parsed = Parsed(sections=(Section("\n\n".join(paras)),))
        chunks = chunk_document(parsed, count_tokens=embedder.count_tokens, spec=ChunkSpec())
        return [c.content_hash for c in chunks]

    before = hashes(paragraphs)
    assert len(before) >= 25
    for i in (0, 17, 58, 91, 119):
        edited = [
            *paragraphs[:i],
            paragraphs[i] + " Late returns pay double.",
            *paragraphs[i + 1 :],
        ]
        changed = set(hashes(edited)) - set(before)
        assert 1 <= len(changed) <= 3, (i, len(changed))


TRICKY = [
    "Plain words, punctuation; and numbers 3.14 — then «quotes».",
    "Accents: café, naïve, Ångström; combining: e\u0301 a\u0308.",
    "中文字符没有空格 and 日本語のテキスト mixed in.",
    "Control\x07 chars\x00 and\ttabs, and a word over WordPiece's 100 characters: " + "x" * 120,
    "[CLS] [SEP] [MASK] look like special tokens; [UNK] too.",
    "https://example.com/path?q=1&r=2 e-mail: someone@example.com",
    "   leading and trailing spaces   ",
]


def test_the_bundled_tokenizer_counts_add_up_over_a_line_break(embedder: Embedder) -> None:
    """What ``tokens_add_up`` rests on, checked on text meant to break it: the count of two
    texts joined by a line break is the sum of their counts."""
    from pipeline.embed.base import tokens_add_up

    assert tokens_add_up(embedder)
    count = embedder.count_tokens
    for a in TRICKY:
        for b in TRICKY:
            for separator in ("\n", "\n\n"):
                assert count(a + separator + b) == count(a) + count(b), (a, b)


def test_summing_token_counts_gives_the_same_chunks(embedder: Embedder) -> None:
    """The example documents and long, tricky text chunk the same whether the chunker sums a
    growing chunk's counts or recounts it, at three chunk sizes."""
    from pipeline.parse.registry import ParseLimits, parse_in_process
    from tests.conftest import EXAMPLES

    documents = [
        parse_in_process(path.read_bytes(), path.name, ParseLimits())
        for path in sorted(EXAMPLES.iterdir())
        if path.suffix in {".pdf", ".docx", ".html"}
    ]
    lines = [TRICKY[i % len(TRICKY)] + f" Line {i}." for i in range(300)]
    documents.append(Parsed(sections=(Section("\n".join(lines) + "\n\n" + LONG),)))
    assert len(documents) == 4
    for size in (64, 128, 256):
        spec = ChunkSpec(max_tokens=size, overlap_tokens=size // 8)
        for parsed in documents:
            recounted = chunk_document(parsed, count_tokens=embedder.count_tokens, spec=spec)
            summed = chunk_document(
                parsed, count_tokens=embedder.count_tokens, spec=spec, tokens_add_up=True
            )
            assert summed == recounted


def test_only_tokenizers_that_split_at_whitespace_add_up() -> None:
    from pipeline.embed.tokens import adds_up

    bert = {
        "normalizer": {"type": "BertNormalizer"},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "model": {"type": "WordPiece"},
        "added_tokens": [{"content": "[CLS]"}, {"content": "[SEP]"}],
    }
    assert adds_up(bert)
    assert not adds_up({**bert, "pre_tokenizer": {"type": "Metaspace"}})  # SentencePiece
    assert not adds_up({**bert, "pre_tokenizer": {"type": "ByteLevel"}})  # GPT-2 BPE
    assert not adds_up({**bert, "model": {"type": "BPE"}})
    assert not adds_up({**bert, "normalizer": {"type": "Precompiled"}})
    assert not adds_up({**bert, "added_tokens": [{"content": "new line\n"}]})
