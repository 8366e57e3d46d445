"""The one-time build of a local model's runtime file (the ONNX export, its int8 quantization,
or the bf16 trace: ``INTAJ_MODEL_CACHE/<model-slug>/``, default ``~/.cache/intaj/models``,
outside INTAJ_HOME): whether it is still to do, and doing it ahead of time.

``scripts/setup`` runs ``python -m pipeline.embed.runtime`` and ``intaj prepare`` builds it
too, so a first ingest finds it ready; when one does not (a fresh cache, a new model), the
ingest says so before it builds (about 15 s for the default model's ONNX export on the
2-core development machine) instead of appearing to hang.
"""

from __future__ import annotations

import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from core.settings import Settings


def pending_build(settings: Settings, model: str | None = None) -> str | None:
    """What building ``model``'s runtime file involves, in words, if it is not built (or is
    stale) in ``settings.resolved_model_cache``; None when it is ready, or when the model has
    no such file (the OpenAI provider, the torch backend)."""
    from pipeline.embed.model_files import model_fingerprint, model_folder
    from pipeline.embed.onnx import split_variant
    from pipeline.embed.onnx_export import RECIPE, fingerprint
    from pipeline.embed.registry import engine_for, provider_for

    model = model or settings.embedding_model
    if provider_for(settings, model) != "local":
        return None
    base, int8 = split_variant(model)  # the name decides int8
    engine = engine_for(settings, model)
    if engine == "torch":
        return None
    try:
        name, path = model_folder(base, cache=settings.resolved_model_cache)
    except Exception:  # a missing model: the load itself reports it
        return None
    folder = settings.resolved_model_cache / name.replace("/", "--")
    if engine == "onnx":
        fresh = _fresh(folder, "int8.onnx" if int8 else "fp32.onnx", fingerprint(path))
        if fresh:
            return None
        return "ONNX export" + (" and int8 quantization" if int8 else "") + f" (recipe {RECIPE})"
    from pipeline.embed.bf16 import RECIPE as BF16_RECIPE

    try:
        torch = version("torch")
    except PackageNotFoundError:
        return None
    stamp = model_fingerprint(path, recipe=f"{BF16_RECIPE};torch={torch}")
    return None if _fresh(folder, "bf16.pt", stamp) else "bfloat16 TorchScript trace"


def _fresh(folder: Path, name: str, fingerprint: str) -> bool:
    """The test of ``model_files.cached_file``: the file, and its stamp with this fingerprint."""
    from pipeline.embed.model_files import stamped

    stamp = folder / f"{name.split('.', 1)[0]}.json"
    return (folder / name).exists() and stamped(stamp, fingerprint)


def main() -> None:
    """Build the configured model's runtime file for this CPU (``scripts/setup``)."""
    from core.settings import get_settings
    from pipeline.embed import get_embedder

    settings = get_settings()
    what = pending_build(settings)
    if what is None:
        print(f"==> embedding model: {settings.embedding_model} is ready")
        return
    start = time.perf_counter()
    print(f"==> embedding model: building its runtime file once ({what})", flush=True)
    get_embedder(settings)
    print(
        f"==> embedding model: built in {time.perf_counter() - start:.1f} s"
        f" ({settings.resolved_model_cache})"
    )


if __name__ == "__main__":
    main()
