"""A picture of a loop: the rendered file's waveform with its seams marked, for the Loops tab."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from diffrhythm_ui.audio import read_audio

WIDTH, HEIGHT = 1200, 240
BACKGROUND, WAVE, SEAM, TEXT = (250, 250, 252), (79, 70, 229), (225, 29, 72), (60, 60, 70)


def loop_waveform(path: Path, seams: list[float], duration: float) -> Image.Image:
    """Min/max envelope of the file in ``WIDTH`` columns, seams as red lines labelled with their time."""
    audio, _ = read_audio(path)
    mono = audio.mean(axis=0)
    columns = np.array_split(mono, WIDTH)
    top = np.array([c.max() if c.size else 0.0 for c in columns])
    bottom = np.array([c.min() if c.size else 0.0 for c in columns])
    image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(image)
    middle, scale = HEIGHT / 2, HEIGHT / 2 - 12
    for x, (high, low) in enumerate(zip(top, bottom, strict=True)):
        draw.line([(x, middle - high * scale), (x, middle - low * scale)], fill=WAVE)
    shown = seams if len(seams) <= 40 else seams[:: max(1, len(seams) // 40)]
    for seam in shown:
        x = round(seam / duration * (WIDTH - 1)) if duration else 0
        draw.line([(x, 0), (x, HEIGHT)], fill=SEAM, width=2)
        draw.text((x + 3, 2), f"{seam:.1f}s", fill=TEXT)
    return image
