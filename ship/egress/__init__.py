"""The egress proxy: the one way out for sandboxes whose policy is an allowlist.

It runs as its own container from Ship's image (`python -m ship.egress`, in the venv
/opt/egress): mitmproxy as a library, with our addon deciding each request by the
policies of `rules.py`, and a small control API on which Bay registers sandboxes (by
their address), their policies and secret bindings, and reads the egress log.
"""
