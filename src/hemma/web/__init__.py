"""The web layer: templates, translations, request dependencies, error pages."""
