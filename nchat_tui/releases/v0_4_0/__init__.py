"""nChat v0.3.0 -> v0.4.0 (seed 004, migrations 013-016): its checklist, its recognition, its
guide's own checks (``checks``) and troubleshooting cases (``troubleshoot``)."""
