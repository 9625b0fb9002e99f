"""`python -m bay_mcp`: the same as the `bay-mcp` command."""

from bay_mcp.cli import main

main()
