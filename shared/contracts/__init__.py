"""Event contracts, one module per owning service; the envelope and obligations are shared."""
