"""A model's tokenizer for the ONNX and bf16 backends: counts for the chunker, ids for the
model, safe from two threads at once, and whether its counts add up over whitespace."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any


class Tokens:
    """The model's tokenizer, safe to call from two threads at once (the chunk stage counts
    tokens while the embed stage encodes: ``pipeline/run/line.py`` overlaps them).

    With a ``tokenizer.json`` (every fast tokenizer) a ``tokenizers.Tokenizer`` is loaded
    from it, without truncation or padding state to switch (encode truncates the ids
    itself; a second instance only for unusual special-token layouts): the same ids as
    ``transformers.AutoTokenizer`` (tests/test_embed_onnx.py compares them)
    without importing transformers and torch (seconds of every ingestion's startup). Without
    one, ``AutoTokenizer`` under a lock, since it switches its truncation per call.
    """

    def __init__(self, path: Path, max_tokens: int):
        self.max_tokens = max_tokens
        self._lock = threading.Lock()
        self._auto: Any = None
        self.add_up = False  # see adds_up
        if (path / "tokenizer.json").exists():
            from tokenizers import Tokenizer

            config = (path / "tokenizer.json").read_text("utf-8")
            self.add_up = adds_up(json.loads(config))
            self._count = Tokenizer.from_str(config)
            self._count.no_truncation()
            self._count.no_padding()
            # One instance serves both jobs when its special tokens are one at each end (BERT's
            # [CLS] … [SEP], XLM-R's <s> … </s>): encode then truncates the ids itself, keeping
            # the last one. A tokenizer is large (XLM-R's 250k pieces: 290 MB each), so a second
            # instance, with its own truncation state, only for other layouts.
            self._specials = self._count.num_special_tokens_to_add(False)
            self._encode = self._count
            if self._specials not in (0, 2):
                self._encode = Tokenizer.from_str(config)
                self._encode.enable_truncation(max_tokens)
                self._encode.no_padding()
            self.pad_id = self._count.token_to_id(_pad_token(path)) or 0
        else:
            from transformers import AutoTokenizer

            self._auto = AutoTokenizer.from_pretrained(path, use_fast=True)
            self.pad_id = int(self._auto.pad_token_id or 0)

    def count(self, text: str) -> int:
        if self._auto is None:
            return len(self._count.encode(text, add_special_tokens=False).ids)
        with self._lock:
            return len(self._auto.encode(text, add_special_tokens=False, verbose=False))

    def _truncated(self, ids: list[int]) -> list[int]:
        """``ids`` cut to ``max_tokens`` as the tokenizer's own truncation cuts them: the text's
        tokens shortened, the closing special token kept."""
        if len(ids) <= self.max_tokens:
            return ids
        if self._specials == 0:
            return ids[: self.max_tokens]
        return ids[: self.max_tokens - 1] + ids[-1:]

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids with the special tokens, truncated to ``max_tokens``, unpadded."""
        if self._auto is None:
            encoded = [e.ids for e in self._encode.encode_batch(list(texts))]
            if self._encode is self._count:
                return [self._truncated(ids) for ids in encoded]
            return encoded
        with self._lock:
            ids: list[list[int]] = self._auto(
                list(texts), truncation=True, max_length=self.max_tokens, padding=False
            )["input_ids"]
            return ids


# What makes a tokenizer's counts add up over whitespace (``adds_up``): text normalised
# character by character, split into words at whitespace (which is dropped), each word
# tokenized on its own. BERT's WordPiece tokenizers (all-MiniLM, bge, e5) are so configured.
_PER_CHARACTER_NORMALIZERS = {None, "BertNormalizer"}
_WHITESPACE_PRE_TOKENIZERS = {"BertPreTokenizer", "Whitespace", "WhitespaceSplit"}


def adds_up(config: dict[str, Any]) -> bool:
    """Whether the tokenizer of ``config`` (a ``tokenizer.json``) counts ``a + "\\n" + b`` as
    ``a``'s tokens plus ``b``'s, without special tokens: the chunker then sums counts instead
    of recounting a growing chunk (the chunks are the same). Only configurations known to
    split at whitespace before the model qualify; an added token holding whitespace (which
    could match across the join) rules it out."""
    normalizer = (config.get("normalizer") or {}).get("type")
    pre_tokenizer = (config.get("pre_tokenizer") or {}).get("type")
    model = (config.get("model") or {}).get("type")
    whitespace_in_added = any(
        any(ch.isspace() for ch in str(token.get("content", "")))
        for token in config.get("added_tokens") or []
    )
    return (
        normalizer in _PER_CHARACTER_NORMALIZERS
        and pre_tokenizer in _WHITESPACE_PRE_TOKENIZERS
        and model == "WordPiece"
        and not whitespace_in_added
    )


def _pad_token(path: Path) -> str:
    """The pad token's text, as transformers reads it (special tokens map, then config)."""
    for name in ("special_tokens_map.json", "tokenizer_config.json"):
        file = path / name
        if file.exists():
            token = json.loads(file.read_text(encoding="utf-8")).get("pad_token")
            if isinstance(token, dict):
                token = token.get("content")
            if isinstance(token, str):
                return token
    return "[PAD]"
