"""Loops tab: a library track or an upload, a target length and fades in; a seamless loop out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from db import new_id
from diffrhythm_ui.service import JobService, LibraryService, LoopForm, ServiceError
from diffrhythm_ui.service.waveform import loop_waveform
from diffrhythm_ui.ui.generate_tab import cancel_handler

PRESETS = {"30 seconds": 30, "1 minute": 60, "3 minutes": 180, "10 minutes": 600, "1 hour": 3600}
SOURCES = ("From the library", "Upload a file")


def seam_summary(report: dict[str, Any]) -> str:
    """The loop report in plain words."""
    metrics = report.get("metrics") or {}
    passed = metrics.get("passed")
    quality = "Every seam measure is within the spec." if passed else "Some seam measures are outside the spec."
    seams = report.get("seams", [])
    lines = [
        f"**{report.get('message', '')}**",
        f"- Loop: bars {report.get('loop_start_bar')}–{report.get('loop_end_bar')} "
        f"({report.get('loop_bars')} bars at {report.get('tempo_bpm', 0):.1f} bpm, "
        f"{report.get('loop_start_s', 0):.2f}–{report.get('loop_end_s', 0):.2f} s of the source)",
        f"- Output: {report.get('duration_s', 0):.2f} s with {len(seams)} seam(s), "
        f"each a {report.get('crossfade_ms', 0):.0f} ms crossfade",
        f"- Confidence: {report.get('confidence', 0):.2f}. " + (quality if passed is not None else ""),
    ]
    return "\n".join(lines)


def build_loops_tab(jobs: JobService, library: LibraryService) -> gr.Dropdown:
    """Build the tab; returns the track picker, which the Generate tab's "Make a loop" fills."""
    with gr.Tab("Loops", id="loops"):
        with gr.Row(equal_height=False):
            with gr.Column(scale=2):
                source = gr.Radio(list(SOURCES), value=SOURCES[0], label="Source")
                track = gr.Dropdown([], label="Track", elem_id="loop-track", allow_custom_value=True)
                upload = gr.Audio(label="Audio file", type="filepath", visible=False)
                with gr.Row():
                    preset = gr.Dropdown(list(PRESETS), value="1 minute", label="Length")
                    duration = gr.Number(value=60, label="Seconds", minimum=1, maximum=4 * 3600, elem_id="loop-seconds")
                with gr.Row():
                    fade_in = gr.Slider(0, 30, value=0, step=0.5, label="Fade in (s)")
                    fade_out = gr.Slider(0, 30, value=3, step=0.5, label="Fade out (s)")
                fmt = gr.Radio(["wav", "mp3", "flac"], value="wav", label="Format")
                with gr.Row():
                    make = gr.Button("Make loop", variant="primary", elem_id="loop-button")
                    cancel = gr.Button("Cancel", variant="stop")
            with gr.Column(scale=3):
                player = gr.Audio(label="Loop", interactive=False, elem_id="loop-player")
                picture = gr.Image(label="Loop points", interactive=False, type="pil")
                words = gr.Markdown(elem_id="loop-summary")
                result = gr.File(label="Download", interactive=False)
                report = gr.JSON(label="Seam report", visible=False)
        loop_id = gr.State(None)

        def refresh(current: str | None) -> gr.Dropdown:
            choices = library.track_choices()
            ids = {value for _, value in choices}
            return gr.Dropdown(
                choices=choices, value=current if current in ids else (choices[0][1] if choices else None)
            )

        def run(
            track_id: str | None,
            upload: str | None,
            duration: float,
            fade_in: float,
            fade_out: float,
            file_format: str,
            source: str,
            current: str | None,
            progress: gr.Progress = gr.Progress(),
        ) -> tuple[str, dict[str, Any]]:
            from_upload = source == SOURCES[1]
            form = LoopForm(
                duration=float(duration or 0),
                track_id=None if from_upload else (track_id or None),
                upload=Path(upload) if from_upload and upload else None,
                fade_in=float(fade_in or 0),
                fade_out=float(fade_out or 0),
                format=file_format or "wav",
            )
            try:
                view = jobs.make_loop(form, lambda fraction, desc: progress(fraction, desc=desc), loop_id=current)
            except (ServiceError, ValueError) as error:
                raise gr.Error(str(error)) from error
            return str(view.path), {"loop_id": view.loop_id, "track_id": view.track_id, **view.report}

        def show(file: str | None, data: dict[str, Any] | None) -> tuple[Any, Any, str]:
            if not file or not data:
                return None, None, ""
            image = loop_waveform(Path(file), data.get("seams", []), data.get("duration_s", 0))
            return file, image, seam_summary(data)

        source.change(
            lambda choice: (gr.Dropdown(visible=choice == SOURCES[0]), gr.Audio(visible=choice == SOURCES[1])),
            source,
            [track, upload],
            queue=False,
            api_visibility="private",
        )
        preset.change(lambda name: PRESETS.get(name, 60), preset, duration, queue=False, api_visibility="private")
        track.focus(refresh, track, track, queue=False, api_visibility="private")
        started = make.click(lambda: new_id(), None, loop_id, queue=False, api_visibility="private")
        rendered = started.then(
            run,
            [track, upload, duration, fade_in, fade_out, fmt, source, loop_id],
            [result, report],
            api_name="make_loop",
            concurrency_id="loops",
            concurrency_limit=jobs.concurrent,
        )
        rendered.then(show, [result, report], [player, picture, words], api_visibility="private")
        cancel.click(cancel_handler(jobs), loop_id, None, queue=False, api_visibility="private")
    return track
