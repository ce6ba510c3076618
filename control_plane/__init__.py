"""The web app: Litestar front doors (native REST, live WebSocket) on the shared core."""
