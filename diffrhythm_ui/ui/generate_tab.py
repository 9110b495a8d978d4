"""Generate tab: timed lyrics, a style, settings and tags in; songs with players and downloads out."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from db import new_id
from diffrhythm_ui.engine.lyrics import auto_time, validate_lrc
from diffrhythm_ui.engine.pipeline import BASE_SECONDS, MAX_BATCH, MAX_SECONDS, MIN_SECONDS
from diffrhythm_ui.service import JobService, LibraryService, ServiceError, SongForm
from diffrhythm_ui.service.forms import MAX_SEED

EXAMPLE_LYRICS = """[00:10.00]Streetlights hum a silver tune
[00:14.50]I walk the long way home to you
[00:19.00]Every window holds a little light
[00:23.50]And I keep one for you tonight
[00:30.00]Oh, the city sings in blue
[00:34.50]Every road runs back to you
[00:39.00]Hold on, hold on, the night is new
[00:43.50]The city sings, the city sings in blue
"""
EXAMPLE_CHINESE = """[00:08.00]夜色慢慢落在城市的肩上
[00:13.00]霓虹闪烁像你温柔的目光
[00:18.00]我们一起走过长长的街
[00:23.00]把所有的梦都唱成歌
"""
EXAMPLES = [
    [EXAMPLE_LYRICS, "dreamy synth-pop, female vocals, warm pads, 100 bpm", 95, "City Sings in Blue", "synth-pop"],
    [EXAMPLE_CHINESE, "mandopop ballad, piano and strings, gentle male vocals", 95, "夜色", "ballad"],
    ["", "lo-fi hip hop, dusty drums, jazz piano, vinyl crackle", 95, "Late Study", "lo-fi"],
]
LANGUAGES = [("English", "en"), ("中文 (Chinese)", "zh")]


@dataclass
class GenerateControls:
    """The inputs other tabs fill ("reuse settings", "edit a segment")."""

    lyrics: gr.Textbox
    style_prompt: gr.Textbox
    duration: gr.Slider
    steps: gr.Slider
    cfg: gr.Slider
    seed: gr.Number
    randomize: gr.Checkbox
    variants: gr.Slider
    format: gr.Radio
    instrumental: gr.Checkbox
    title: gr.Textbox
    artist: gr.Textbox
    album: gr.Textbox
    genre: gr.Textbox
    mood: gr.Textbox
    language: gr.Dropdown
    edit_track: gr.Dropdown
    edit_start: gr.Number
    edit_end: gr.Number
    variant: gr.Dropdown  # the result chosen for "Make a loop of it"
    to_loop: gr.Button  # wired to the Loops tab by create_app

    def reuse_outputs(self) -> list[Any]:
        return [
            self.lyrics,
            self.style_prompt,
            self.duration,
            self.steps,
            self.cfg,
            self.seed,
            self.randomize,
            self.variants,
            self.format,
            self.instrumental,
            self.title,
            self.artist,
            self.album,
            self.genre,
            self.mood,
            self.language,
        ]


def form_values(form: SongForm) -> list[Any]:
    """A SongForm as values for ``GenerateControls.reuse_outputs``, in the same order."""
    return [
        form.lyrics,
        form.style_prompt,
        form.duration,
        form.steps,
        form.cfg_strength,
        form.seed,
        False,
        form.variants,
        form.format,
        form.instrumental,
        form.title,
        form.artist,
        form.album,
        form.genre,
        form.mood,
        form.language,
    ]


def describe_problems(lyrics: str, duration: float, instrumental: bool) -> str:
    if instrumental:
        return "Instrumental: the lyrics are ignored."
    if not lyrics.strip():
        return "Write lyrics as LRC lines like `[00:12.50]words`, or paste plain lines and press **Auto-time**."
    problems = validate_lrc(lyrics, duration)
    if not problems:
        return f"✅ Lyrics look good for a {duration:.0f} s song."
    listed = "\n".join(f"- line {p.line_number}: {p.reason}" for p in problems[:30])
    more = f"\n- and {len(problems) - 30} more" if len(problems) > 30 else ""
    return f"**{len(problems)} line(s) to fix before generating:**\n{listed}{more}"


def build_generate_tab(jobs: JobService, library: LibraryService, engine_notice: str) -> GenerateControls:
    with gr.Tab("Generate", id="generate"):
        if engine_notice:
            gr.Markdown(engine_notice, elem_id="engine-notice")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                lyrics = gr.Textbox(
                    label="Lyrics (LRC)", lines=14, max_lines=40, placeholder=EXAMPLE_LYRICS, elem_id="lyrics"
                )
                lyrics_status = gr.Markdown(elem_id="lyrics-status")
                with gr.Row():
                    autotime = gr.Button("Auto-time lyrics", size="sm")
                    language = gr.Dropdown(LANGUAGES, value="en", label="Language", scale=1)
                    instrumental = gr.Checkbox(label="Instrumental (no vocals)", value=False)
            with gr.Column(scale=2):
                style_prompt = gr.Textbox(
                    label="Style",
                    elem_id="style-prompt",
                    lines=2,
                    placeholder="e.g. indie folk, acoustic guitar, soft female vocals, 90 bpm",
                )
                style_audio = gr.Audio(label="…or a reference recording (10 s or longer)", type="filepath")
                duration = gr.Slider(
                    MIN_SECONDS,
                    math.floor(MAX_SECONDS),
                    value=round(BASE_SECONDS),
                    step=1,
                    label="Length (s)",
                    elem_id="duration",
                    info="Up to 95 s uses DiffRhythm-1_2; longer songs (up to 285 s) use DiffRhythm-1_2-full.",
                )
                with gr.Accordion("Advanced", open=False):
                    steps = gr.Slider(
                        2,
                        100,
                        value=32,
                        step=1,
                        label="Steps",
                        elem_id="steps",
                        info="Fewer is faster; 32 is the official setting.",
                    )
                    cfg = gr.Slider(0, 10, value=4, step=0.5, label="Guidance (CFG)")
                    with gr.Row():
                        seed = gr.Number(value=None, label="Seed", precision=0, minimum=0, maximum=MAX_SEED)
                        randomize = gr.Checkbox(value=True, label="Random seed")
                    variants = gr.Slider(1, MAX_BATCH, value=1, step=1, label="Variants")
                    fmt = gr.Radio(["wav", "mp3", "flac"], value="wav", label="Format")
                with gr.Accordion("Title and tags", open=False):
                    title = gr.Textbox(label="Title", elem_id="song-title")
                    artist = gr.Textbox(label="Artist")
                    album = gr.Textbox(label="Album")
                    with gr.Row():
                        genre = gr.Textbox(label="Genre")
                        mood = gr.Textbox(label="Mood")
                with gr.Accordion("Edit a segment of an existing song", open=False):
                    edit_track = gr.Dropdown([], label="Song to edit (from the Library)", allow_custom_value=True)
                    with gr.Row():
                        edit_start = gr.Number(value=None, label="From (s)", minimum=0)
                        edit_end = gr.Number(value=None, label="To (s)", minimum=0)
                    gr.Markdown("Only this stretch is regenerated; the rest of the song is kept.")
        with gr.Row():
            generate = gr.Button("Generate", variant="primary", elem_id="generate-button")
            cancel = gr.Button("Cancel", variant="stop", elem_id="cancel-button")
        summary = gr.Markdown(elem_id="generate-summary")
        players = [gr.Audio(visible=False, label=f"Variant {i + 1}", interactive=False) for i in range(MAX_BATCH)]
        with gr.Column(visible=False) as results:
            with gr.Row():
                downloads = gr.File(label="Downloads", file_count="multiple", interactive=False)
                report = gr.JSON(label="Details", visible=False)
            with gr.Row():
                variant_pick = gr.Dropdown([], label="Variant", scale=2)
                to_loop = gr.Button("Make a loop of it", size="sm", elem_id="to-loop")
                to_edit = gr.Button("Edit a segment of it", size="sm")
        gr.Examples(EXAMPLES, [lyrics, style_prompt, duration, title, genre], label="Examples")
        controls = GenerateControls(
            lyrics,
            style_prompt,
            duration,
            steps,
            cfg,
            seed,
            randomize,
            variants,
            fmt,
            instrumental,
            title,
            artist,
            album,
            genre,
            mood,
            language,
            edit_track,
            edit_start,
            edit_end,
            variant_pick,
            to_loop,
        )
        job_id = gr.State(None)

        def check(text: str, seconds: float, is_instrumental: bool) -> str:
            return describe_problems(text or "", float(seconds or 95), bool(is_instrumental))

        def timed(text: str, seconds: float) -> tuple[str, str]:
            try:
                result = auto_time(text or "", float(seconds))
            except ValueError as error:
                raise gr.Error(str(error)) from error
            return result, describe_problems(result, float(seconds), False)

        def run(
            lyrics: str,
            style: str,
            duration: float,
            steps: float,
            cfg: float,
            seed: float | None,
            random_seed: bool,
            variants: float,
            file_format: str,
            instrumental: bool,
            title: str,
            artist: str,
            album: str,
            genre: str,
            mood: str,
            language: str,
            style_audio: str | None,
            edit_track_id: str | None,
            edit_start: float | None,
            edit_end: float | None,
            current_job: str | None,
            progress: gr.Progress = gr.Progress(),
        ) -> tuple[list[str], dict[str, Any]]:
            edit_path = library.track_path(edit_track_id) if edit_track_id else None
            if edit_track_id and (
                edit_path is None or edit_start is None or edit_end is None or edit_end <= edit_start
            ):
                raise gr.Error("To edit a song, choose it and give a segment (From < To, in seconds).")
            form = SongForm(
                lyrics=lyrics or "",
                style_prompt=style or "",
                style_audio=style_audio or None,
                duration=float(duration),
                steps=int(steps),
                cfg_strength=float(cfg),
                seed=None if random_seed or seed is None else int(seed),
                variants=int(variants),
                format=file_format or "wav",
                instrumental=bool(instrumental),
                title=title or "",
                artist=artist or "",
                album=album or "",
                genre=genre or "",
                mood=mood or "",
                language=language or "en",
                edit_audio=edit_path,
                edit_segments=((float(edit_start), float(edit_end)),) if edit_path else (),
            )
            try:
                view = jobs.generate(form, lambda fraction, desc: progress(fraction, desc=desc), job_id=current_job)
            except (ServiceError, ValueError) as error:
                raise gr.Error(str(error)) from error
            tracks = [
                {"track_id": t.track_id, "file": str(t.path), "title": t.title, "seed": t.seed, "duration": t.duration}
                for t in view.tracks
            ]
            result = {"job_id": view.job_id, "seed": view.seed, "tracks": tracks, "warnings": view.warnings}
            return [t["file"] for t in tracks], result

        def show(result: dict[str, Any] | None) -> list[Any]:
            tracks = (result or {}).get("tracks", [])
            updates: list[Any] = [
                gr.Audio(value=t["file"], label=f"{t['title']} · seed {t['seed']}", visible=True)
                if t
                else gr.Audio(value=None, visible=False)
                for t in tracks + [None] * (MAX_BATCH - len(tracks))
            ]
            choices = [(t["title"], t["track_id"]) for t in tracks]
            text = f"Made {len(tracks)} song(s) · job `{result['job_id']}` · seed {result['seed']}" if tracks else ""
            for warning in (result or {}).get("warnings", []):
                text += f"\n- ⚠️ {warning}"
            picked = gr.Dropdown(choices=choices, value=choices[0][1] if choices else None)
            return [*updates, text, picked, gr.Column(visible=bool(tracks))]

        inputs = [*controls.reuse_outputs(), style_audio, edit_track, edit_start, edit_end, job_id]
        for trigger in (lyrics.change, duration.change, instrumental.change):
            trigger(check, [lyrics, duration, instrumental], lyrics_status, queue=False, api_visibility="private")
        autotime.click(timed, [lyrics, duration], [lyrics, lyrics_status], queue=False, api_visibility="private")
        started = generate.click(lambda: new_id(), None, job_id, queue=False, api_visibility="private")
        running = started.then(
            run,
            inputs,
            [downloads, report],
            api_name="generate",
            concurrency_id="gpu",
            concurrency_limit=jobs.concurrent,
        )
        running.then(show, report, [*players, summary, variant_pick, results], api_visibility="private")
        cancel.click(cancel_handler(jobs), job_id, None, queue=False, api_visibility="private")

        def cancel_job(job_id: str) -> bool:
            """Stop a running generation or loop between steps; True if it was running."""
            return jobs.cancel(job_id)

        gr.api(cancel_job, api_name="cancel", queue=False)

        def refresh_edit_choices() -> gr.Dropdown:
            return gr.Dropdown(choices=library.track_choices())

        edit_track.focus(refresh_edit_choices, None, edit_track, queue=False, api_visibility="private")
        to_edit.click(
            lambda track: (gr.Dropdown(choices=library.track_choices(), value=track), 0, 10),
            variant_pick,
            [edit_track, edit_start, edit_end],
            queue=False,
            api_visibility="private",
        )
    return controls


def cancel_handler(jobs: JobService) -> Callable[[str | None], None]:
    """A Cancel button's handler: stop the session's running job (if any) between steps."""

    def stop_current(current: str | None) -> None:
        if current and jobs.cancel(current):
            gr.Info("Stopping after the current step…")

    return stop_current
