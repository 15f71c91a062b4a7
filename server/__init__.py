"""The StrideVR websocket server: authentication, message validation, stations and fan-out.

This package is the composition root: it turns device input into ``games`` events, runs the games,
hands results to ``scoring`` and pushes state to headsets and therapists.
"""
