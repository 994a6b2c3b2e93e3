"""Schema -> constraint: the compiler into one regex over compact JSON, and its building blocks."""
