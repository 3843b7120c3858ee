"""The HTTP toolkit below the domains: auth, idempotent writes, the one problem+json handler,
observability, rate limits. It imports no domain; `tidings.app` mounts the routers."""
