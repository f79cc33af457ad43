//! Daemon checks of the rendered imap files, in the bookworm image.
