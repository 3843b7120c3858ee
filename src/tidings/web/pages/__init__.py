"""The routers of the pages, one module per area."""
