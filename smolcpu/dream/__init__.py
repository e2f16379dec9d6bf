"""dream layer (see ARCHITECTURE.md)."""
