"""The `/v1` handlers, one module per resource; `rest/routes.py` maps them to paths."""
