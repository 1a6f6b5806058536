"""Sandbox templates (docs/templates.md): everything about the images runs start from."""
