"""What the workers run: RQ job functions for batch transcription and session enhancement.

They share the core (``core.persistence``, ``core.storage``, the inference client)
and never import the web app; see ``runner.py`` (stages in order) and ``stages.py`` (the list).
"""
