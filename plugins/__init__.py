"""Built-in architecture plugins. Each module here registers through the same hooks as a third-party plugin."""
