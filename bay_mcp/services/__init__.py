"""The service layer: every rule (owners, capabilities, paths, TTLs) lives here once.

Surfaces (MCP tools, REST routes) call these functions and translate their errors.
"""
