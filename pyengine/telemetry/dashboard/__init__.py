"""Layer 3: the live dashboard (state the engine fills, HTTP+WebSocket server, Svelte app)."""
