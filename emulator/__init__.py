"""msgemu: a local emulator of real messaging providers."""

__version__ = "0.1.0"
