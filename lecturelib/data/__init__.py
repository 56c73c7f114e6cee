"""Data sets of the book: MNIST digits (shipped subset or full download), dSprites (rendered here)."""
