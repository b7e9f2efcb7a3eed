"""Request body schemas of the API routes, one module per area (``api/routes.py``: imported on first use)."""
