"""Scoring: turn game results into scores, adaptive difficulty, range-of-motion samples and records.

Depends on ``games`` for its result and parameter types; never on ``server``.
"""
