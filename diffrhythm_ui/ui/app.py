"""Compose the tabs into one Gradio Blocks app."""

from __future__ import annotations

import gradio as gr

from diffrhythm_ui.service.library import LibraryService
from diffrhythm_ui.ui.about_tab import build_about_tab
from diffrhythm_ui.ui.library_tab import build_library_tab

TITLE = "DiffRhythm Studio"


def create_app(library: LibraryService, *, database: str) -> gr.Blocks:
    """Build the app over injected services; ``database`` is the backend's name shown in About."""
    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(f"# {TITLE}")
        with gr.Tabs():
            build_library_tab(demo, library)
            build_about_tab(database)
    return demo
