"""The generator: load -> validate -> model -> render -> format -> write, and the CLI."""
