"""The window's desk: the HTTP API and the console behind it (issue 11)."""
