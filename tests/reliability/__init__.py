"""The reliability suite: fuzzing, hostile model files, a load burst and kill -9 recovery (docs/RELIABILITY.md)."""
