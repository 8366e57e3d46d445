"""``python -m intaj.cli``: the ``intaj`` command."""

from intaj.cli import main

main()
