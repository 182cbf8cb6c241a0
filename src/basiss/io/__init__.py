"""Raster and file-list I/O: windowed reads, the 16->8-bit stretch, atomic GeoTIFF writes."""
