"""The checkpoints the hub profile loads, and where they come from: the list, lookup, download, stand-ins."""
