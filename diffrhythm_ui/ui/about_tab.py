"""About tab: what the app is, the model, licences and versions."""

from __future__ import annotations

import platform

import gradio as gr
import sqlalchemy

import diffrhythm_ui

ABOUT = """
### DiffRhythm Studio {version}
Write timed lyrics and a style, generate full songs with the DiffRhythm latent-diffusion model, turn any
track into a seamless loop, and find everything you made in the Library.

**Model.** DiffRhythm v1.2 by ASLP-lab: `ASLP-lab/DiffRhythm-1_2` (up to 95 s) and
`ASLP-lab/DiffRhythm-1_2-full` (up to 285 s), with the `ASLP-lab/DiffRhythm-vae` decoder and the
MuQ-MuLan style encoder (`OpenMuQ/MuQ-MuLan-large`).

**Licences.** The DiffRhythm code and weights are published by ASLP-lab under the Apache 2.0 licence; the
MuQ-MuLan weights are published under CC BY-NC 4.0 (non-commercial use). Check each model card before
using generated music commercially.

**Versions.** Python {python} · Gradio {gradio} · SQLAlchemy {sqlalchemy} · database: {database} · jobs run
{runs_on}
"""


def build_about_tab(database: str, runs_on: str) -> gr.Tab:
    with gr.Tab("About", id="about") as tab:
        gr.Markdown(
            ABOUT.format(
                version=diffrhythm_ui.__version__,
                python=platform.python_version(),
                gradio=gr.__version__,
                sqlalchemy=sqlalchemy.__version__,
                database=database,
                runs_on=runs_on,
            )
        )
    return tab
