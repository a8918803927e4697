"""The command line: the parser and its error boundary (``main``), one module per subcommand."""
