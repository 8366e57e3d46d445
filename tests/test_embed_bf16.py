"""The bf16 TorchScript backend (pipeline/embed/bf16.py) against ONNX Runtime fp32 on the bundled
model, and the choice ``INTAJ_EMBEDDING_BACKEND=auto`` makes.

The first test to ask for it traces the model into the session's INTAJ_HOME (a few seconds).
On a CPU without AMX the same code runs, with bfloat16 emulated: slower, never different.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from core.cpu import cpu_has_amx_bf16, cpu_has_avx512_bf16
from core.settings import DEFAULT_MODEL, Settings
from pipeline.embed import get_embedder
from pipeline.embed.bf16 import Bf16Embedder
from pipeline.embed.onnx import OnnxEmbedder
from pipeline.embed.registry import local_backend

SENTENCES = [
    "How do I make a Python script executable on Unix?",
    "Why does Python use indentation for grouping of statements?",
    "Is there a tool to help find bugs or perform static analysis?",
    "How can I find the methods or attributes of an object?",
    "Python's garbage collector frees reference cycles; reference counting frees the rest."
    " Objects with __del__ methods used to make cycles uncollectable.",
    "Reference counting frees most objects as soon as they become unreachable. " * 40,
]


@pytest.fixture(scope="module")
def bf16(settings: Settings) -> Bf16Embedder:
    return Bf16Embedder(DEFAULT_MODEL, cache=settings.resolved_model_cache)


@pytest.fixture(scope="module")
def fp32(settings: Settings) -> OnnxEmbedder:
    return OnnxEmbedder(DEFAULT_MODEL, cache=settings.resolved_model_cache)


def test_bf16_vectors_agree_with_fp32_under_the_same_name(
    bf16: Bf16Embedder, fp32: OnnxEmbedder
) -> None:
    vectors = bf16.embed(SENTENCES)
    assert vectors.dtype == np.float32
    assert vectors.shape == (len(SENTENCES), 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # 450 python-faq chunks: cosine mean 0.99996, min 0.99991
    assert (vectors * fp32.embed(SENTENCES)).sum(axis=1).min() >= 0.999
    assert bf16.model_name == fp32.model_name == DEFAULT_MODEL


def test_a_text_embeds_the_same_alone_or_padded_in_a_batch(bf16: Bf16Embedder) -> None:
    """The trace keeps the attention mask: padding a short text to a long neighbour's length
    does not move its vector (a trace of an unpadded example could have dropped the mask)."""
    together = Bf16Embedder(DEFAULT_MODEL, cache=bf16._path.parents[1], batch_size=64).embed(
        SENTENCES
    )
    alone = np.stack([bf16.embed([text])[0] for text in SENTENCES])
    assert (together * alone).sum(axis=1).min() >= 0.9999


def test_calls_from_several_threads_get_their_own_vectors(settings: Settings) -> None:
    embedder = Bf16Embedder(
        DEFAULT_MODEL, cache=settings.resolved_model_cache, batch_size=1, threads=2
    )
    calls = [SENTENCES[i:] + SENTENCES[:i] for i in range(len(SENTENCES))]
    alone = [embedder.embed(texts) for texts in calls]
    with ThreadPoolExecutor(6) as pool:
        together = list(pool.map(embedder.embed, calls))
    for got, expected in zip(together, alone, strict=True):
        np.testing.assert_allclose(got, expected, atol=1e-5)


def test_tokens_and_truncation_are_the_onnx_backends(
    bf16: Bf16Embedder, fp32: OnnxEmbedder
) -> None:
    for text in SENTENCES:
        assert bf16.count_tokens(text) == fp32.count_tokens(text)
    assert bf16.max_tokens == fp32.max_tokens == 256
    assert bf16.embed([]).shape == (0, 384)


def test_the_trace_is_cached(settings: Settings, bf16: Bf16Embedder) -> None:
    before = bf16._path.stat().st_mtime_ns
    assert (
        bf16._path == settings.resolved_model_cache / DEFAULT_MODEL.replace("/", "--") / "bf16.pt"
    )
    Bf16Embedder(DEFAULT_MODEL, cache=settings.resolved_model_cache)
    assert bf16._path.stat().st_mtime_ns == before


def test_auto_picks_bf16_where_the_cpu_multiplies_bfloat16_in_hardware(tmp_path: Path) -> None:
    sapphire = tmp_path / "sapphire"
    sapphire.write_text("processor\t: 0\nflags\t\t: fpu avx512f avx512_bf16 amx_bf16 amx_tile\n")
    zen4 = tmp_path / "zen4"
    zen4.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16\n")
    zen1 = tmp_path / "zen1"
    zen1.write_text("processor\t: 0\nflags\t\t: fpu avx2\n")
    assert cpu_has_amx_bf16(sapphire) and cpu_has_avx512_bf16(sapphire)
    assert not cpu_has_amx_bf16(zen4) and cpu_has_avx512_bf16(zen4)  # no AMX tiles
    assert not cpu_has_amx_bf16(zen1) and not cpu_has_avx512_bf16(zen1)  # bf16 emulated
    assert not cpu_has_avx512_bf16(tmp_path / "not-linux")

    native = cpu_has_amx_bf16() or cpu_has_avx512_bf16()
    assert local_backend(Settings(embedding_backend="auto")) == ("torch-bf16" if native else "onnx")
    # the switches make this CPU choose as one without (to measure such a CPU here)
    plain = Settings(embedding_backend="auto", cpu_amx=False, cpu_avx512_bf16=False)
    assert local_backend(plain) == "onnx"
    without_amx = Settings(embedding_backend="auto", cpu_amx=False)
    assert local_backend(without_amx) == ("torch-bf16" if cpu_has_avx512_bf16() else "onnx")
    assert local_backend(Settings(embedding_backend="onnx")) == "onnx"
    assert local_backend(Settings(embedding_backend="torch-bf16")) == "torch-bf16"
    assert local_backend(Settings(embedding_device="cuda")) == "torch"  # the others: CPU only


def test_the_setting_picks_this_engine(bf16: Bf16Embedder) -> None:
    embedder = get_embedder(Settings(embedding_backend="torch-bf16"))
    assert isinstance(embedder, Bf16Embedder)
    assert embedder.model_name == DEFAULT_MODEL


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/task")
def test_each_worker_runs_one_torch_thread_under_its_own_name(settings: Settings) -> None:
    """The workers set torch to one thread each (data parallel) and carry their names down to
    the OS thread, where ``top -H`` and the bench's CPU accounting see them."""
    import torch

    embedder = Bf16Embedder(DEFAULT_MODEL, cache=settings.resolved_model_cache, threads=2)
    embedder.embed(SENTENCES)
    assert embedder._workers.submit(torch.get_num_threads).result() == 1
    names = [comm.read_text().strip() for comm in Path("/proc/self/task").glob("*/comm")]
    assert sum(name.startswith("intaj-bf16_") for name in names) >= 2
