"""Library tab: every job and track, newest first, paginated."""

from __future__ import annotations

from typing import Any

import gradio as gr

from diffrhythm_ui.service.library import DEFAULT_PAGE_SIZE, LibraryEntry, LibraryPage, LibraryService

HEADERS = ["Created (UTC)", "Type", "Title", "Status", "Duration (s)", "Model", "Seed", "Details", "ID"]
EMPTY_MESSAGE = (
    "### Your library is empty\n"
    "Every song you generate and every loop you make is kept here, newest first, with the settings "
    "that made it."
)


def _details(entry: LibraryEntry) -> str:
    parts = [f"{key}: {entry.metadata[key]}" for key in ("genre", "mood", "language") if entry.metadata.get(key)]
    if entry.error:
        parts.append(f"error: {entry.error}")
    return "; ".join(parts)


def _row(entry: LibraryEntry) -> list[Any]:
    title = entry.title if entry.kind == "job" else f"  ↳ {entry.title}"
    duration = round(entry.duration, 2) if entry.duration is not None else ""
    seed = entry.seed if entry.seed is not None else ""
    return [
        entry.created_at.replace("T", " ").removesuffix("+00:00"),
        entry.kind,
        title,
        entry.status,
        duration,
        entry.model or "",
        seed,
        _details(entry),
        entry.id,
    ]


def _summary(page: LibraryPage) -> str:
    if page.is_empty:
        return EMPTY_MESSAGE
    noun = "job" if page.total_jobs == 1 else "jobs"
    return f"Page {page.page} of {page.pages} · {page.total_jobs} {noun}"


def build_library_tab(demo: gr.Blocks, library: LibraryService) -> gr.Tab:
    with gr.Tab("Library", id="library") as tab:
        summary = gr.Markdown(EMPTY_MESSAGE, elem_id="library-summary")
        table = gr.Dataframe(
            headers=HEADERS, value=[], interactive=False, wrap=True, visible=False, elem_id="library-table"
        )
        with gr.Row():
            previous = gr.Button("← Newer", size="sm")
            page_number = gr.Number(value=1, label="Page", precision=0, minimum=1, scale=0, min_width=100)
            following = gr.Button("Older →", size="sm")
            refresh = gr.Button("Refresh", size="sm", variant="secondary")

        def show(page: float | None) -> tuple[Any, Any, int]:
            result = library.page(int(page or 1), DEFAULT_PAGE_SIZE)
            rows = [_row(entry) for entry in result.entries]
            return _summary(result), gr.Dataframe(value=rows, visible=not result.is_empty), result.page

        outputs = [summary, table, page_number]
        refresh.click(show, inputs=page_number, outputs=outputs, api_name="library")
        page_number.submit(show, inputs=page_number, outputs=outputs, api_visibility="private")
        previous.click(lambda p: show((p or 1) - 1), page_number, outputs, api_visibility="private")
        following.click(lambda p: show((p or 1) + 1), page_number, outputs, api_visibility="private")
        tab.select(show, page_number, outputs, api_visibility="private")
        demo.load(show, page_number, outputs, api_visibility="private")
    return tab
