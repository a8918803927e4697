"""Each nChat release the tool knows, as data: its checklist, checks and how it is recognised."""
