"""File jobs: reformat/retrieve/classify a file, run statistics, the dry-run plan, progress, cost."""
