"""API keys, tenants and the network edge: every route needs a key unless it is on the open list."""
