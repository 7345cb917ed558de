"""Evidence retrieval: web search clients, the local document index, evidence cleaning."""
