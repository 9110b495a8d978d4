"""DiffRhythm Studio: write timed lyrics and a style, generate songs, loop them, find them again."""

__version__ = "0.1.0"
