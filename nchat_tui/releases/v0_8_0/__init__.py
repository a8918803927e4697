"""nChat v0.7 -> v0.8.0 (seed 000): no schema change; its checklist is all there is."""
