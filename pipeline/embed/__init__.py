"""Embedding providers behind one protocol, chosen by ``INTAJ_EMBEDDING_PROVIDER``.

Every provider returns L2-normalised float32 vectors of its declared dimension, records its
model name (stored with every vector) and counts tokens the way its model does.
"""

from pipeline.embed.base import Embedder, check_vectors
from pipeline.embed.registry import embedder_of, get_embedder, model_of

__all__ = ["Embedder", "check_vectors", "embedder_of", "get_embedder", "model_of"]
