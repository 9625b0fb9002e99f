"""Bay MCP: the control plane and MCP surface for persistent, isolated sandboxes."""

__version__ = "0.1.0"
