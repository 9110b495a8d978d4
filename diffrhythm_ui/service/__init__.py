"""Services between the UI and the engines and database: the UI calls these, never SQL or tensors."""

from diffrhythm_ui.service.forms import LoopForm, SongForm
from diffrhythm_ui.service.jobs import GenerationView, JobService, LoopView, RecoveryReport, ServiceError
from diffrhythm_ui.service.library import LibraryEntry, LibraryPage, LibraryQuery, LibraryService
from diffrhythm_ui.service.storage import DataStore, StorageError

__all__ = [
    "DataStore",
    "GenerationView",
    "JobService",
    "LibraryEntry",
    "LibraryPage",
    "LibraryQuery",
    "LibraryService",
    "LoopForm",
    "LoopView",
    "RecoveryReport",
    "ServiceError",
    "SongForm",
    "StorageError",
]
