"""pracmln, the reference engine: its installer, its patches for current Python, and its query and learning runs on the same files as ours. Knows neither layer's internals."""
