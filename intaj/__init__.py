"""The top floor: the `intaj` CLI and the HTTP app factory. Wires the packages; holds no
pipeline or retrieval logic."""
