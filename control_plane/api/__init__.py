"""REST API controllers and their response bodies."""
