"""Benchmarks: commands, not tests (`make bench-deadlines`)."""
