"""The marker for translatable text outside templates."""


def N_(message: str) -> str:
    """Marks `message` for extraction into the catalogs; it is translated where shown."""
    return message
