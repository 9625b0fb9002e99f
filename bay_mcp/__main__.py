from bay_mcp.cli import main

main()
