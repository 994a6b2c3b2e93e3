"""Regex building blocks for compact JSON text: the fragment type, JSON values, numbers in a range,
formats and patterns (one module each)."""
