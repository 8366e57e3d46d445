"""sentence-transformers models run through ONNX Runtime: about 2x torch's speed on CPU with
int8 weights.

The transformer is exported once (``torch.onnx.export``, then onnxruntime's BERT fusions) and,
for ``int8``, quantized with dynamic per-channel int8 weights; the files are cached under
``INTAJ_MODEL_CACHE/<model-slug>/<variant>.onnx`` (default ``~/.cache/intaj/models``), written
atomically under a file lock so two processes never clash. Pooling (mean or CLS, read from the
model's ``modules.json``) and normalisation happen here, in numpy.

Names. fp32 ONNX vectors equal torch's (cosine >= 0.9999): they keep the model's name and the two
backends are interchangeable. int8 vectors are close but not equal (python-faq chunks: cosine
mean 0.992, min 0.966, 47 of 353 below 0.99; retrieval unchanged), so they are recorded as
``<model>#onnx-int8``: moving a chatbot between int8 and the other backends is a re-embed
(``intaj reembed``), never a silent mix.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import ConfigError, EmbeddingError
from core.settings import DEFAULT_MODEL
from pipeline.embed.batches import BatchedEmbedder, padded, pooled

INT8_SUFFIX = "#onnx-int8"
RECIPE = "1"  # bump when the export recipe changes: cached files of other recipes are rebuilt
OPSET = 17
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def split_variant(model: str) -> tuple[str, bool]:
    """``("sentence-transformers/all-MiniLM-L6-v2", True)`` for ``...#onnx-int8``."""
    if model.endswith(INT8_SUFFIX):
        return model[: -len(INT8_SUFFIX)], True
    return model, False


@dataclass(frozen=True)
class ModelSpec:
    """What the ONNX backend needs from a sentence-transformers model folder."""

    path: Path
    pooling: str  # "mean" or "cls"
    max_seq_length: int
    dimensions: int


def read_spec(path: Path) -> ModelSpec:
    """The model's pooling and sequence limit; refuses module stacks this backend cannot run."""
    modules = json.loads((path / "modules.json").read_text(encoding="utf-8"))
    kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
    if kinds[:2] != ["Transformer", "Pooling"] or set(kinds[2:]) - {"Normalize"}:
        raise ConfigError(
            f"the ONNX and bf16 backends run Transformer + Pooling (+ Normalize) models; {path} has"
            f" {kinds}. Use INTAJ_EMBEDDING_BACKEND=torch for this model."
        )
    pooling = json.loads((path / modules[1]["path"] / "config.json").read_text(encoding="utf-8"))
    modes = [k for k, v in pooling.items() if k.startswith("pooling_mode") and v]
    mode = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls"}.get(
        modes[0] if len(modes) == 1 else ""
    )
    if mode is None:
        raise ConfigError(
            f"the ONNX and bf16 backends support mean or CLS pooling; {path} uses {modes}."
            " Use INTAJ_EMBEDDING_BACKEND=torch for this model."
        )
    st_config = path / "sentence_bert_config.json"
    config = json.loads(st_config.read_text(encoding="utf-8")) if st_config.exists() else {}
    return ModelSpec(
        path=path,
        pooling=mode,
        max_seq_length=int(config.get("max_seq_length") or 512),
        dimensions=int(pooling["word_embedding_dimension"]),
    )


def model_folder(model: str) -> tuple[str, Path]:
    """The canonical name and local folder of ``model`` (bundled, a folder, or the HF cache)."""
    from pipeline.embed.local import bundled_model_path

    bundled = bundled_model_path(model)
    if bundled is not None:
        return DEFAULT_MODEL, bundled
    if Path(model).is_dir():
        return model, Path(model)
    try:
        from huggingface_hub import snapshot_download

        return model, Path(snapshot_download(model))
    except Exception as e:
        raise ConfigError(
            f"cannot find the files of embedding model {model!r}: {e}. Use the bundled default"
            f" ({DEFAULT_MODEL}) or make the model's files available offline."
        ) from e


def model_fingerprint(path: Path, recipe: str = f"recipe={RECIPE};opset={OPSET}") -> str:
    """Identity of the model files and the export recipe, recorded beside the cached file."""
    digest = hashlib.sha256(recipe.encode())
    for name in ("config.json", "modules.json", "sentence_bert_config.json"):
        if (path / name).exists():
            digest.update((path / name).read_bytes())
    for weights in sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin")):
        digest.update(f"{weights.name}:{weights.stat().st_size}".encode())
    return digest.hexdigest()[:16]


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def cached_model(spec: ModelSpec, *, cache: Path, slug: str, int8: bool) -> Path:
    """The cached ``fp32.onnx`` / ``int8.onnx`` of a model, built on first use. int8 is
    quantized from fp32, which is built (or found) only when int8 itself is not fresh."""

    def build(tmp: Path) -> None:
        if int8:
            _quantize(cached_model(spec, cache=cache, slug=slug, int8=False), tmp)
        else:
            _export(spec, tmp)

    return cached_file(
        cache / slug,
        f"{'int8' if int8 else 'fp32'}.onnx",
        fingerprint=model_fingerprint(spec.path),
        build=build,
    )


def cached_file(
    folder: Path, name: str, *, fingerprint: str, build: Callable[[Path], None]
) -> Path:
    """``folder/name``, built by ``build(path)`` unless the file there is stamped with
    ``fingerprint`` (``<stem>.json`` beside it). Built atomically under a lock file of
    its own (``.<stem>.lock``), so two processes never clash, a crash never leaves half a file,
    and ``build`` may itself ask for another file of the folder (int8 is built from fp32)."""
    target = folder / name
    stem = target.name.split(".", 1)[0]
    stamp = folder / f"{stem}.json"

    def fresh() -> bool:
        if not (target.exists() and stamp.exists()):
            return False
        return bool(json.loads(stamp.read_text()).get("fingerprint") == fingerprint)

    if fresh():
        return target
    with _locked(folder / f".{stem}.lock"):
        if fresh():  # another process built it while we waited
            return target
        tmp = folder / f".{stem}.{os.getpid()}{target.suffix}"
        try:
            build(tmp)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        stamp_tmp = folder / f".{stem}.{os.getpid()}.json"
        stamp_tmp.write_text(json.dumps({"fingerprint": fingerprint}))
        os.replace(stamp_tmp, stamp)
    return target


def _export(spec: ModelSpec, out: Path) -> None:
    """Export the transformer (eager attention: the form onnxruntime's fusions recognise)."""
    import torch
    from transformers import AutoConfig

    raw = out.with_suffix(".raw.onnx")
    dummy = torch.ones((2, 8), dtype=torch.long)
    axes = {name: {0: "batch", 1: "sequence"} for name in (*_INPUTS, "last_hidden_state")}
    # The exporter's tracer warnings are about shapes we export as dynamic axes.
    with quiet_transformers(), torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        config = AutoConfig.from_pretrained(spec.path)
        try:
            torch.onnx.export(
                traceable_transformer(spec.path),
                (dummy, dummy, torch.zeros_like(dummy)),
                str(raw),
                input_names=list(_INPUTS),
                output_names=["last_hidden_state"],
                dynamic_axes=axes,
                opset_version=OPSET,
                dynamo=False,  # the TorchScript exporter: no onnxscript needed
            )
            _optimize(raw, out, config)
        finally:
            raw.unlink(missing_ok=True)


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """transformers' "Loading weights" bar and notes (its config, its loss function: read when
    a trace or an export walks the model's attributes) are noise in our output."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        hf_logging.enable_progress_bar()


def traceable_transformer(path: Path, **load: Any) -> Any:
    """The model folder's transformer (eager attention, ``load``: e.g. its dtype), wrapped as
    a module that maps positional (input_ids, attention_mask, token_type_ids) to the last
    hidden state: what a trace or an ONNX export takes. Call it, and trace or export what it
    returns, within :func:`quiet_transformers`."""
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(path, attn_implementation="eager", **load).eval()

    class Hidden(torch.nn.Module):
        def __init__(self, inner: Any):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    return Hidden(model).eval()


def _optimize(raw: Path, out: Path, config: Any) -> None:
    """onnxruntime's transformer fusions (attention, layer norm, GELU), portable (level 0)."""
    from onnxruntime.transformers.optimizer import optimize_model

    heads = int(getattr(config, "num_attention_heads", 0) or 0)
    hidden = int(getattr(config, "hidden_size", 0) or 0)
    model_type = "bert" if config.model_type in ("bert", "roberta", "mpnet") else config.model_type
    optimized = optimize_model(
        str(raw), model_type=model_type, num_heads=heads, hidden_size=hidden, opt_level=0
    )
    optimized.save_model_to_file(str(out))


def _quantize(source: Path, out: Path) -> None:
    """Dynamic int8, per channel (per-tensor int8 loses too much: cosine as low as 0.83)."""
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(source),
        str(out),
        per_channel=True,
        weight_type=QuantType.QInt8,
        # the fused ops (Attention, SkipLayerNormalization) defeat shape inference
        extra_options={"DefaultTensorType": TensorProto.FLOAT},
    )


DEFAULT_BATCH = 4
"""Texts per ONNX run. Each run is one thread's work (below), and on one thread small batches
cost least: almost no padding, and a call's last batches finish close together. Measured on
the 2-core machine, quick corpus chunks, fp32: batch 4 at 42 chunks/s, 8 at 40, 32 at 32."""


class OnnxEmbedder(BatchedEmbedder):
    """The :class:`~pipeline.embed.base.Embedder` of a sentence-transformers model on ONNX
    Runtime. Results come back in input order.

    Data parallel: one session runs each batch on a single thread, and ``threads`` workers
    (default: every usable CPU) run batches side by side. On a 2-core machine this is 1.2x the
    speed of one run using both cores (fp32 42 against 35 chunks/s), keeps that speed for a
    call of a few texts (the batches shrink so that every worker gets some), and loses less
    when another stage takes a core: a run split over two cores waits for the slower one at
    every operator, a worker only slows down. Calls from several threads share the workers.
    """

    def __init__(
        self,
        model_name: str,
        *,
        cache: Path,
        int8: bool = False,
        batch_size: int | None = None,
        threads: int | None = None,
    ):
        base, suffixed = split_variant(model_name)
        int8 = int8 or suffixed
        name, path = model_folder(base)
        spec = read_spec(path)
        super().__init__(
            name + (INT8_SUFFIX if int8 else ""),
            spec,
            Tokens(path, spec.max_seq_length),
            batch_size=batch_size or DEFAULT_BATCH,
            threads=threads,
            thread_name="intaj-onnx",
        )
        slug = name.replace("/", "--")
        self._path = cached_model(spec, cache=cache, slug=slug, int8=int8)
        self._session = _session(self._path)
        self._wide: Any = None
        self._feeds = [i.name for i in self._session.get_inputs()]

    def _run_one(self, ids: list[list[int]]) -> np.ndarray:
        if self.threads == 1:
            return self._run(ids)
        return self._run(ids, session=self._one_run_session())

    def _one_run_session(self) -> Any:
        """A second session whose runs use every worker's core: one text (a search query) has
        no batches to spread, so here the run itself is split. Built on the first such call
        (a query process needs it; an ingestion seldom does)."""
        with self._lock:
            if self._wide is None:
                self._wide = _session(self._path, threads=self.threads)
            return self._wide

    def _run(self, ids: list[list[int]], session: Any = None) -> np.ndarray:
        input_ids, mask = padded(ids, pad_id=self._pad, width=max(len(row) for row in ids))
        arrays = {"input_ids": input_ids, "attention_mask": mask}
        arrays["token_type_ids"] = np.zeros_like(input_ids)
        try:
            hidden = (session or self._session).run(None, {k: arrays[k] for k in self._feeds})[0]
        except Exception as e:
            raise EmbeddingError(f"{self.model_name} (ONNX Runtime) failed: {e}") from e
        return pooled(hidden, mask, self.spec.pooling)


class Tokens:
    """The model's tokenizer, safe to call from two threads at once (the chunk stage counts
    tokens while the embed stage encodes: ``flows/ingest.py`` overlaps them).

    With a ``tokenizer.json`` (every fast tokenizer) two ``tokenizers.Tokenizer`` instances
    are loaded from it, one per job, each with its own truncation and padding state: the
    same ids as ``transformers.AutoTokenizer`` (tests/test_embed_onnx.py compares them)
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

            config = (path / "tokenizer.json").read_text("utf-8")  # read once, loaded twice
            self.add_up = adds_up(json.loads(config))
            self._count = Tokenizer.from_str(config)
            self._count.no_truncation()
            self._count.no_padding()
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

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids with the special tokens, truncated to ``max_tokens``, unpadded."""
        if self._auto is None:
            return [e.ids for e in self._encode.encode_batch(list(texts))]
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


def _session(path: Path, threads: int = 1) -> Any:
    """A session whose runs use ``threads`` threads: by default each run stays on its calling
    thread (``OnnxEmbedder`` runs several at once, one per worker). ``run`` is thread safe."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
