"""The user-facing side: command line, desktop app, capture sources and output sinks."""
