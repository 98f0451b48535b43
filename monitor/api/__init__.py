"""The HTTP API (FastAPI), served by uvicorn inside the daemon's event loop."""
