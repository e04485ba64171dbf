"""How the host builds, adapts, sizes and decodes a plugin's model: the host block, adapters, sizing, greedy and beam
generation, attention and gradient readouts. Imports only `seqbench.contract` and `seqbench.records`."""
