"""Recording files in, analysis shapes out: C3D motion capture and force-plate CSV.

Readers raise :class:`scoring.errors.RecordingError` with a one-line reason a person can act on.
"""
