"""Notes API, first attempt."""
