"""Media: pure functions over files — probe, inspect, complexity, ladder, encode, assemble, quality,
validate, package, image. ffmpeg and PyAV details stay inside this package."""
