"""The shared kernel: the one error family every app raises. Imports nothing of ours."""
