"""``python -m formatlock.cli`` runs the same CLI as the ``formatlock`` script."""

from . import main

main()
