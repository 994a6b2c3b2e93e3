"""The names of the generation paths the benchmarks compare, apart from the engines that run them
(which load llama.cpp and Outlines), so that the CLI can list them at start-up."""

ENGINES = ("formatlock", "llguidance", "outlines", "llama-grammar", "unconstrained")  # on a local model
SERVER_ENGINES = ("server", "server-prompt-only")  # on a server model (with "formatlock" on a local one beside it)
