"""API keys and scopes, rate limits, sessions with CSRF protection, CORS."""
