"""``python -m formatlock ...`` is ``formatlock ...``."""

from .cli import main

main()
