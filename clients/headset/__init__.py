"""The Panda3D headset client: follows a station's ``state`` stream and draws the patient-frame
floor, the targets, the feet and the score (see docs/headset.md).

``state`` (parsing, smoothing, tracking-lost rule) and ``network`` (the websocket thread) need no
window; ``scene``, ``hud`` and ``app`` draw; ``python -m clients.headset`` runs it.
"""
