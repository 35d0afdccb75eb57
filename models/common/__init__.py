"""What every module shares: errors, image I/O and validation, colour and numeric
primitives, masks, line segments, filters, backend selection, offline switches and the
marketplace profiles."""
