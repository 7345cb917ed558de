"""Task classifiers: the embedded offline classifier and the LLM-backed ones."""
