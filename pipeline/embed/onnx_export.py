"""Building the ONNX files of a model: the transformer exported (``torch.onnx.export``, then
onnxruntime's BERT fusions) and, for ``int8``, quantized with dynamic per-channel int8 weights;
cached under ``INTAJ_MODEL_CACHE/<model-slug>/<variant>.onnx`` (default
``~/.cache/intaj/models``; :func:`cached_file`)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from pipeline.embed.model_files import (
    ModelSpec,
    cached_file,
    model_fingerprint,
    quiet_transformers,
    traceable_transformer,
)

RECIPE = "1"  # bump when the export recipe changes: cached files of other recipes are rebuilt
OPSET = 17
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def fingerprint(path: Path) -> str:
    """The stamp of a model's ONNX files: its files and this export recipe."""
    return model_fingerprint(path, f"recipe={RECIPE};opset={OPSET}")


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
        fingerprint=fingerprint(spec.path),
        build=build,
    )


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
