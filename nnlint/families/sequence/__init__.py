"""The sequence family: next-token targets that are not the input shifted by exactly one position."""
