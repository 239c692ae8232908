"""The HTTP gateway (layer 1): app, routes, schemas, middleware, services and inference backends.

Nothing is re-exported here, so importing a submodule never loads FastAPI by accident."""
