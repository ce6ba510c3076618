"""SQL persistence: models, migrations and repositories for sessions and jobs."""
