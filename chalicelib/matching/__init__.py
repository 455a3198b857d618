"""Matching consultants to assignments: the shared core (candidates, hard constraints, reasons, the
business adjustment); the engines that retrieve and score text come behind a MatchIndex port."""
