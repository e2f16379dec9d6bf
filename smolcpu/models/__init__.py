"""models layer (see ARCHITECTURE.md)."""
