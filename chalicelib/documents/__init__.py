"""Uploaded documents: checking what a file really is, refusing hostile ones, and reading their text."""
