"""kmshell: an interactive teaching shell for the Windows kernel-mode architecture."""

__version__ = "0.1.0"
