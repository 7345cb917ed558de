"""The defaults of the OpenAI-compatible client, in a module of their own: the CLI's flags read them
without importing the client, which imports the ``openai`` SDK (slow to import, and not needed to
classify, plan a dry run or render a report)."""

from __future__ import annotations

__all__ = ["DEFAULT_MODEL", "DEFAULT_TIMEOUT", "OPENAI_BASE_URL"]

DEFAULT_MODEL = "gpt-4o-mini"
OPENAI_BASE_URL = "https://api.openai.com/v1"
#: Seconds one request may take before it is abandoned (and retried): long enough for a long
#: generation on a slow local server, short enough that a hung server costs minutes, not hours.
DEFAULT_TIMEOUT = 120.0
