"""The live WebSocket door: socket I/O (gateway), the session state machine, its outbox and its archive."""
