"""The composition root: the app factory, the context with real adapters, the worker loops
and the jobs registry. The one place that imports every domain and wires them together."""
