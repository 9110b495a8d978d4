"""Gradio Blocks UI: one builder per tab, composed in ``create_app``."""

from diffrhythm_ui.ui.app import create_app

__all__ = ["create_app"]
