"""A project-based assessment autograder that issues verifiable Open Badges 3.0 micro-credentials."""

__version__ = "0.1.0"
