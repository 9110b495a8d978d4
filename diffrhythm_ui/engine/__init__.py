"""The DiffRhythm inference engine: lyrics and a style in, 44.1 kHz stereo songs out (real or tiny weights)."""
