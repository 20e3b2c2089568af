"""Building blocks shared by models: palette codec, conv stacks. No training logic."""
