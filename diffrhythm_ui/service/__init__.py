"""Services between the UI and the engines and database: the UI calls these, never SQL or tensors."""

from diffrhythm_ui.service.library import LibraryEntry, LibraryPage, LibraryService

__all__ = ["LibraryEntry", "LibraryPage", "LibraryService"]
