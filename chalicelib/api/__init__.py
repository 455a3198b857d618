"""HTTP boundary: one Blueprint per area, declared through ``chalicelib.api.http.operation``."""
