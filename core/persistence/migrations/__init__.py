"""Alembic migration environment, run in code by :func:`core.persistence.database.upgrade`."""
