"""Compose the tabs into one Gradio Blocks app over injected services."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from diffrhythm_ui.service import JobService, LibraryService
from diffrhythm_ui.ui.about_tab import build_about_tab
from diffrhythm_ui.ui.generate_tab import build_generate_tab
from diffrhythm_ui.ui.library_tab import build_library_tab
from diffrhythm_ui.ui.loops_tab import build_loops_tab

TITLE = "DiffRhythm Studio"
CSS = """
#library-table { font-size: 0.9em; }
#engine-notice { border-left: 4px solid #f59e0b; padding-left: 12px; }
"""


@dataclass(frozen=True)
class Services:
    jobs: JobService
    library: LibraryService
    database: str  # the backend's name, shown in About
    engine_notice: str = ""  # shown on the Generate tab when the model cannot run yet
    runs_on: str = "in this app, one at a time"  # where jobs run, shown in About


def create_app(services: Services) -> gr.Blocks:
    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(f"# {TITLE}\nTimed lyrics and a style in, full songs and seamless loops out.")
        with gr.Tabs() as tabs:
            generate = build_generate_tab(services.jobs, services.library, services.engine_notice)
            loop_track = build_loops_tab(services.jobs, services.library)
            build_library_tab(demo, services.jobs, services.library, generate, tabs)
            build_about_tab(services.database, services.runs_on)
        generate.to_loop.click(
            lambda track: (
                gr.Dropdown(choices=services.library.track_choices(), value=track),
                gr.Tabs(selected="loops"),
            ),
            generate.variant,
            [loop_track, tabs],
            queue=False,
            api_visibility="private",
        )
    return demo
