"""The `incidents` command line."""
