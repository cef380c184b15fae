"""The desktop app's widgets: each one shows or edits one thing and reports through signals."""
