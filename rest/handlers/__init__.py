"""The `/v1` handlers, one module per resource; `rest/routes.py` maps them to paths.

A handler parses nothing and decides nothing: it calls a service and shapes the answer.
"""
