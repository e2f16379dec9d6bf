"""units/tools layer (see ARCHITECTURE.md)."""
