"""``mmrnn serve``: the HTTP server (FastAPI app, dynamic batcher, web page)."""
