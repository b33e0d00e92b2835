"""Domain-free helpers: time, errors."""
