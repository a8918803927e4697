"""Modal dialogs: confirmations, questions, reasons, help."""
