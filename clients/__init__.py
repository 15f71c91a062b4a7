"""Clients of the StrideVR server: simulated tracker, headset listener (and, later, replay tools)."""
