"""Models of the disentanglement chapters: the shared dSprites architecture and the study's regularisers."""
