"""The console: the web pages caseworkers, heads and operators use; it owns no case data."""
