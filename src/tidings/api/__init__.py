"""The HTTP API: app factory, auth, the one error handler, routers per domain."""
