"""The HTML report of a reformatted file."""
