"""Alembic migration environment, run in code by :func:`control_plane.persistence.database.upgrade`."""
