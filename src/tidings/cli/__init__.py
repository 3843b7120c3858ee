"""The `tidings` command line."""
