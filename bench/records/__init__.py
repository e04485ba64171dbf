"""The record of a cell and its distance bins. Imports nothing of seqbench."""
