"""LLM clients: the OpenAI-compatible client, retries, rate limits, the request cache, the Batch API
and a scripted fake for tests."""
