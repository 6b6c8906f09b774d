"""``python -m coinfactor``: the command-line interface."""

from coinfactor.cli import main

main()
