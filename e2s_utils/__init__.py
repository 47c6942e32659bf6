"""e2s: fused foundation-model embeddings for Earth-observation compression, reproducible end to end."""

__version__ = "0.1.0"
