"""The reporter process: the only writer of observed state."""
