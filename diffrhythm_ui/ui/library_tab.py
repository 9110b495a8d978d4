"""Library tab: every job, track and loop, newest first; search, filters, play, download, edit, delete."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import gradio as gr

from db import JOB_STATUSES
from diffrhythm_ui.service import JobService, LibraryEntry, LibraryPage, LibraryQuery, LibraryService
from diffrhythm_ui.service.library import DEFAULT_PAGE_SIZE
from diffrhythm_ui.ui.generate_tab import GenerateControls, form_values

HEADERS = ["Created (UTC)", "Type", "Title", "Status", "Duration (s)", "Model", "Seed", "Details", "ID"]
EMPTY_MESSAGE = (
    "### Your library is empty\n"
    "Every song you generate and every loop you make is kept here, newest first, with the settings "
    "that made it."
)
NO_MATCH = "No jobs match this search."
ALL = "All"


def _details(entry: LibraryEntry) -> str:
    meta = entry.metadata
    parts = [f"{key}: {meta[key]}" for key in ("genre", "mood", "language") if meta.get(key)]
    if entry.kind == "loop" and "loop_bars" in meta:
        parts.append(
            f"{meta['loop_bars']} bars at {meta.get('tempo_bpm', 0):.0f} bpm, confidence {meta.get('confidence')}"
        )
    if entry.error:
        parts.append(f"error: {entry.error}")
    return "; ".join(parts)


def _row(entry: LibraryEntry) -> list[Any]:
    indent = {"job": "", "track": "  ↳ ", "loop": "      ↻ "}[entry.kind]
    return [
        entry.created_at.replace("T", " ").removesuffix("+00:00"),
        entry.kind,
        indent + entry.title,
        entry.status,
        round(entry.duration, 2) if entry.duration is not None else "",
        entry.model or "",
        entry.seed if entry.seed is not None else "",
        _details(entry),
        entry.id,
    ]


def _summary(page: LibraryPage, filtered: bool) -> str:
    if page.is_empty:
        return NO_MATCH if filtered else EMPTY_MESSAGE
    noun = "job" if page.total_jobs == 1 else "jobs"
    return f"Page {page.page} of {page.pages} · {page.total_jobs} {noun}"


def _describe(entry: LibraryEntry) -> str:
    lines = [f"### {entry.title}", f"{entry.kind} `{entry.id}` · {entry.status} · {entry.created_at} UTC"]
    if entry.error:
        lines.append(f"**Error:** {entry.error}")
    shown = {k: v for k, v in entry.metadata.items() if v not in (None, "", [])}
    if shown:
        lines.append(" · ".join(f"{k}: {v}" for k, v in shown.items()))
    return "\n\n".join(lines)


def build_library_tab(
    demo: gr.Blocks, jobs: JobService, library: LibraryService, generate: GenerateControls, tabs: gr.Tabs
) -> gr.Tab:
    with gr.Tab("Library", id="library") as tab:
        with gr.Row():
            text = gr.Textbox(
                label="Search", placeholder="title, lyrics, style, tags…", scale=3, elem_id="library-search"
            )
            status = gr.Dropdown([ALL, *JOB_STATUSES], value=ALL, label="Status", scale=1)
            genre = gr.Dropdown([ALL], value=ALL, label="Genre", allow_custom_value=True, scale=1)
            mood = gr.Dropdown([ALL], value=ALL, label="Mood", allow_custom_value=True, scale=1)
            language = gr.Dropdown([ALL], value=ALL, label="Language", allow_custom_value=True, scale=1)
            search = gr.Button("Search", scale=0, elem_id="library-search-button")
        summary = gr.Markdown(EMPTY_MESSAGE, elem_id="library-summary")
        table = gr.Dataframe(
            headers=HEADERS,
            value=[],
            interactive=False,
            wrap=True,
            visible=False,
            elem_id="library-table",
            column_widths=["12%", "6%", "22%", "8%", "7%", "14%", "8%", "15%", "8%"],
        )
        with gr.Row():
            previous = gr.Button("← Newer", size="sm")
            page_number = gr.Number(value=1, label="Page", precision=0, minimum=1, scale=0, min_width=100)
            following = gr.Button("Older →", size="sm")
        with gr.Group(visible=False) as details_box:
            details = gr.Markdown(elem_id="library-details")
            player = gr.Audio(label="Play", interactive=False, elem_id="library-player")
            download = gr.File(label="Download", interactive=False)
            with gr.Accordion("Edit title and tags", open=False):
                with gr.Row():
                    tag_title, tag_artist, tag_album = (
                        gr.Textbox(label="Title"),
                        gr.Textbox(label="Artist"),
                        gr.Textbox(label="Album"),
                    )
                    tag_genre, tag_mood = gr.Textbox(label="Genre"), gr.Textbox(label="Mood")
                save_tags = gr.Button("Save tags", size="sm")
            with gr.Row():
                reuse = gr.Button("Reuse settings", size="sm")
                delete = gr.Button("Delete…", variant="stop", size="sm", elem_id="library-delete")
            with gr.Row(visible=False) as confirm_box:
                gr.Markdown("Delete this and its files for good?")
                confirm = gr.Button("Delete permanently", variant="stop", size="sm", elem_id="library-confirm")
                keep = gr.Button("Keep", size="sm")
        entries = gr.State([])
        selected = gr.State(None)

        def query(words: str, state: str, kind: str, feel: str, lang: str) -> LibraryQuery:
            def pick(value: str | None) -> str | None:
                return None if not value or value == ALL else value

            return LibraryQuery(
                text=words or "", status=pick(state), genre=pick(kind), mood=pick(feel), language=pick(lang)
            )

        def show(words: str, state: str, kind: str, feel: str, lang: str, page: float | None) -> tuple[Any, ...]:
            wanted = query(words, state, kind, feel, lang)
            try:
                result = library.page(int(page or 1), DEFAULT_PAGE_SIZE, wanted)
            except ValueError as error:
                raise gr.Error(str(error)) from error
            filtered = wanted != LibraryQuery()
            rows = [_row(entry) for entry in result.entries]
            table_update = gr.Dataframe(value=rows, visible=bool(rows))
            return _summary(result, filtered), table_update, result.page, [asdict(e) for e in result.entries]

        def options() -> tuple[gr.Dropdown, gr.Dropdown, gr.Dropdown]:
            values = library.filter_options()
            return tuple(gr.Dropdown(choices=[ALL, *values[key]]) for key in ("genre", "mood", "language"))

        def choose(rows: list[dict[str, Any]], event: gr.SelectData) -> tuple[Any, ...]:
            index = event.index[0] if isinstance(event.index, (list, tuple)) else event.index
            if not rows or index is None or index >= len(rows):
                return None, gr.Group(visible=False), "", None, None, *([""] * 5), gr.Row(visible=False)
            entry = LibraryEntry(**rows[index])
            playable = (
                entry
                if entry.path
                else next(  # a job plays its first track
                    (LibraryEntry(**r) for r in rows if r["kind"] == "track" and r["job_id"] == entry.id), entry
                )
            )
            path = library.file_path(playable)
            meta = entry.metadata
            tags = [entry.title if entry.kind == "job" else meta.get("track_name", "")]
            tags += [meta.get(k, "") for k in ("artist", "album", "genre", "mood")]
            return (
                rows[index],
                gr.Group(visible=True),
                _describe(entry),
                str(path) if path else None,
                str(path) if path else None,
                *tags,
                gr.Row(visible=False),
            )

        def remove(kind: str, item_id: str) -> str:
            """Delete a job, track or loop and its files. ``kind`` is job, track or loop."""
            deleters = {"job": jobs.delete_job, "track": jobs.delete_track, "loop": jobs.delete_loop}
            if kind not in deleters:
                raise gr.Error("kind must be job, track or loop")
            return f"Deleted {kind} {item_id}." if deleters[kind](item_id) else f"No {kind} {item_id}."

        def remove_selected(item: dict[str, Any] | None) -> tuple[str, Any, Any]:
            if not item:
                raise gr.Error("Choose a row first.")
            message = remove(item["kind"], item["id"])
            gr.Info(message)
            return message, gr.Group(visible=False), gr.Row(visible=False)

        def retag(item: dict[str, Any] | None, *values: str) -> None:
            if not item:
                raise gr.Error("Choose a row first.")
            tags = dict(zip(("title", "artist", "album", "genre", "mood"), values, strict=True))
            try:
                count = library.update_tags(item["job_id"], tags)
            except ValueError as error:
                raise gr.Error(str(error)) from error
            gr.Info(f"Tags saved ({count} file(s) re-tagged).")

        def reuse_settings(item: dict[str, Any] | None) -> list[Any]:
            form = library.reuse_settings(item["job_id"]) if item else None
            if form is None:
                raise gr.Error("Only generated songs have settings to reuse.")
            return [*form_values(form), gr.Tabs(selected="generate")]

        filters = [text, status, genre, mood, language]
        listing = [summary, table, page_number, entries]
        fast = dict(concurrency_limit=None, api_visibility="private", show_progress="minimal")
        search.click(lambda *f: show(*f, 1), filters, listing, **fast)
        text.submit(lambda *f: show(*f, 1), filters, listing, **fast)
        page_number.submit(show, [*filters, page_number], listing, **fast)
        previous.click(lambda *f: show(*f[:-1], (f[-1] or 1) - 1), [*filters, page_number], listing, **fast)
        following.click(lambda *f: show(*f[:-1], (f[-1] or 1) + 1), [*filters, page_number], listing, **fast)
        tab.select(show, [*filters, page_number], listing, **fast).then(options, None, [genre, mood, language], **fast)
        demo.load(show, [*filters, page_number], listing, **fast)

        def library_api(search: str = "", status: str = ALL, page: int = 1) -> dict[str, Any]:
            """The Library, newest first: jobs with their tracks and loops, searched by words and a status."""
            wanted = query(search, status, ALL, ALL, ALL)
            try:
                result = library.page(max(1, int(page)), DEFAULT_PAGE_SIZE, wanted)
            except ValueError as error:  # an unknown status: say so instead of Gradio's bare "Error"
                raise gr.Error(str(error)) from error
            return {
                "summary": _summary(result, wanted != LibraryQuery()),
                "page": result.page,
                "pages": result.pages,
                "total_jobs": result.total_jobs,
                # File paths are left out: Gradio would offer every one of them as a download.
                "entries": [{k: v for k, v in asdict(entry).items() if k != "path"} for entry in result.entries],
            }

        gr.api(library_api, api_name="library", queue=False)
        gr.api(remove, api_name="delete", queue=False)
        table.select(
            choose,
            entries,
            [
                selected,
                details_box,
                details,
                player,
                download,
                tag_title,
                tag_artist,
                tag_album,
                tag_genre,
                tag_mood,
                confirm_box,
            ],
            **fast,
        )
        delete.click(lambda: gr.Row(visible=True), None, confirm_box, **fast)
        keep.click(lambda: gr.Row(visible=False), None, confirm_box, **fast)
        confirm.click(remove_selected, selected, [summary, details_box, confirm_box], **fast).then(
            show, [*filters, page_number], listing, **fast
        )
        save_tags.click(retag, [selected, tag_title, tag_artist, tag_album, tag_genre, tag_mood], None, **fast).then(
            show, [*filters, page_number], listing, **fast
        )
        reuse.click(reuse_settings, selected, [*generate.reuse_outputs(), tabs], **fast)
    return tab
