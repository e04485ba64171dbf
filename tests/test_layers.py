"""The wings are real boundaries: deprecated paths still work and say where their names went."""

from __future__ import annotations

import warnings


def test_the_old_host_block_path_warns_and_gives_the_same_class():
    from seqbench.host.block import HostBlock

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from seqbench.contract.host import HostBlock as old
    assert old is HostBlock
    assert any(issubclass(w.category, DeprecationWarning) and "seqbench.host.block" in str(w.message) for w in caught)
