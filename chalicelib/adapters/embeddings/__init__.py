"""Embedding models behind the Embedder port (chalicelib/matching/embeddings.py)."""
