"""Running the matrix: configuration, planning, the runner, the Lightning module, data, measures."""
