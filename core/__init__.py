"""The shared core of Tandem: settings, wire protocol, persistence, storage, the Triton client, audio I/O, jobs.

The web app (``control_plane``) and the workers (``pipelines``) both stand on it; nothing here imports them.
"""
