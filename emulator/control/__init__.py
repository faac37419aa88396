"""The /_emulator control API."""
