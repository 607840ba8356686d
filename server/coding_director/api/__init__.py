"""The OpenAI-compatible HTTP API (``coding-director api``): the only package importing the ASGI
stack (Starlette, uvicorn, sse-starlette). Handlers are thin: they parse HTTP, call the typed
functions of :mod:`coding_director.features.openai_api`, and write the answers.

- :mod:`coding_director.api.app`: :func:`~coding_director.api.app.create_app`, the Starlette app;
- :mod:`coding_director.api.server`: :func:`~coding_director.api.server.run_api`, uvicorn with the
  bind/token checks and a clean shutdown on SIGTERM.
"""
