"""The tokenizer of the ONNX and bf16 backends gives the ids transformers gives, long texts
(cut to the model's window, the closing special token kept) included, for MiniLM's WordPiece
and the multilingual model's XLM-R unigram, with one tokenizer instance in memory."""

from __future__ import annotations

import pytest

from core.settings import DEFAULT_MODEL, MULTILINGUAL_MODEL, Settings
from pipeline.embed.model_files import model_folder
from pipeline.embed.tokens import Tokens

TEXTS = [
    "Helmets are cleaned after every rental.",
    "يمكنك إرجاع الدراجة خلال ٣٠ يومًا من تاريخ الشراء، بشرط أن تكون بحالة جيدة. " * 60,
    "The rental desk opens at nine; late returns cost $5 an hour. " * 80,
]


@pytest.mark.parametrize("model", [DEFAULT_MODEL, MULTILINGUAL_MODEL], ids=["minilm", "e5"])
def test_ids_match_transformers_including_truncation(settings: Settings, model: str) -> None:
    from transformers import AutoTokenizer

    _, path = model_folder(model, cache=settings.resolved_model_cache)
    ours = Tokens(path, 128)
    theirs = AutoTokenizer.from_pretrained(path)
    expected = theirs(TEXTS, truncation=True, max_length=128)["input_ids"]
    assert ours.encode(TEXTS) == expected
    assert [len(ids) for ids in expected][1:] == [128, 128]  # the long ones were cut
    assert ours._encode is ours._count  # one instance: a tokenizer of 250k pieces is 290 MB
