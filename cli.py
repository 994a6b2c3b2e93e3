"""Run the formatlock CLI from a checkout: ``python cli.py ...`` is ``formatlock ...``."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

from formatlock.cli import main

if __name__ == "__main__":
    main()
