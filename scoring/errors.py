"""Errors of the offline and end-of-session analyses.

Each carries one line a person can act on (the CLI prints it as is, without a traceback), so
messages name the file's problem, not the code's.
"""

from __future__ import annotations


class AnalysisError(ValueError):
    """The data cannot give the metric asked for (no heel markers, too few heel strikes...)."""


class RecordingError(AnalysisError):
    """A recording file cannot be read: not the format, truncated, or without the columns needed."""
