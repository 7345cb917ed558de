"""Dataset files: reading rows, dataset shapes, atomic output files."""
