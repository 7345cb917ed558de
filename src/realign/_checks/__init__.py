"""The checks that decide whether a rewrite keeps the original's answer."""
