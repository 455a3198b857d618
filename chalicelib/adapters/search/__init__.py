"""Search engines behind the MatchIndex port (chalicelib/matching/index.py)."""
