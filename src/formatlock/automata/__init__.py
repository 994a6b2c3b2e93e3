"""Regex syntax and byte-level automata: character sets, the NFA and the lazy DFA."""
