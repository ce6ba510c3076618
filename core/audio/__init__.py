"""Audio I/O: files decoded with PyAV, client frames converted and resampled, recordings written as WAV."""
