"""Translations between other gateways' interfaces and ours: pure functions, no I/O."""
