//! Daemon checks of the rendered smtp files, in the bookworm image.
