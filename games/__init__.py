"""Games: rules, Panda3D scenes and difficulty parameters.

Data flows in one direction through StrideVR: adapters (``server``) turn device input into
:class:`games.events.FootEvent`; a game consumes those events and emits
:class:`games.base.TrialResult`; ``scoring`` turns results into scores, difficulty changes and
stored records. Nothing in this package imports ``server`` or ``scoring``.
"""
