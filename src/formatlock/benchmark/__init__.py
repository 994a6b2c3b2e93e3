"""Benchmarks that compare formatlock with the engines it builds on, each isolated in a worker."""
