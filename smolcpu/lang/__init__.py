"""lang layer (see ARCHITECTURE.md)."""
