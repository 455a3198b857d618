"""Pydantic request and response models: the public contract, documented in /openapi.json."""
