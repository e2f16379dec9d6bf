"""vm layer (see ARCHITECTURE.md)."""
