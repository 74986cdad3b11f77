"""``python -m musiccaps_kit.cli``: the same as ``mck``."""

from musiccaps_kit.cli import main

main()
