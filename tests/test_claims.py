"""The README's claims are what the records give (issue 25): every marked block is rebuilt from the committed
records, and the generator states an ordering only where the intervals separate."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from _records import edited, make_record
from seqbench.cli import main
from seqbench.publish.claims import BEGIN, END, Item, blocks, ladder, markdown
from seqbench.records import store

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BLOCKS = blocks(README.read_text(encoding="utf-8"))


def test_the_readme_has_claims_blocks():
    assert BLOCKS, "README.md has no <!-- claims:NAME begin --> block"


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_a_readme_block_is_what_the_committed_records_give(name):
    """Fails when a number in the README differs from the records; `seqbench claims results/... --readme
    README.md` rewrites the block."""
    folders = [ROOT / "results" / part for part in name.split("+")]
    records = [r for f in folders for r in store.load_dir(f).records]
    assert records, f"claims:{name} names no committed result folder"
    assert BLOCKS[name] == markdown(records, name), (
        f"README.md's claims:{name} differs from its records; rebuild it with: seqbench claims "
        + " ".join(f"results/{f.name}" for f in folders) + " --readme README.md")


def curve(arch: str, seed: int, accs: dict[int, float]):
    """One record per distance (copy, chance 0.125: the midpoint is 0.5625)."""
    return [make_record(arch, "copy", distance=d, seed=seed, acc=a, chance=0.125) for d, a in accs.items()]


def lines_about(text: str, *names: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("  - ") and all(n in line for n in names)]


def test_an_ordering_is_written_where_the_reach_intervals_separate():
    short = [r for s, a in enumerate((0.30, 0.25, 0.20)) for r in curve("rnn", s, {2: 0.99, 8: a, 32: 0.12})]
    long = [r for s in range(3) for r in curve("gru", s, {2: 0.99, 8: 0.98, 32: 0.97})]
    text = markdown(short + long, "tiny")
    (line,) = lines_about(text, "rnn", "gru")
    assert line.startswith("  - rnn < gru: ") and line.endswith(" against 32+.")
    assert "3 seeds each" in text and "seeds 0, 1, 2" in text
    assert "rnn is at or below the midpoint (0.562) on every seed from 8 on: 0.120-0.300" in text


def test_overlapping_reach_intervals_are_not_separated_and_say_their_numbers():
    spread = (curve("rnn", 0, {2: 0.99, 8: 0.2, 32: 0.1}) + curve("rnn", 1, {2: 0.99, 8: 0.99, 32: 0.1})
              + curve("rnn", 2, {2: 0.99, 8: 0.99, 32: 0.99}))
    tight = [r for s in range(3) for r in curve("lstm", s, {2: 0.99, 8: 0.99, 32: 0.3})]
    text = markdown(spread + tight, "tiny")
    (line,) = lines_about(text, "rnn", "lstm")
    assert line == "  - rnn ≥13 [<2-32+], lstm 19 [19-19]: not separated."  # both numbers, with their intervals


def test_a_ladder_orders_neighbours_merges_equal_rows_and_open_ends_separate_nothing():
    items = [Item("a", 1.0, 0.9, 1.1, "1.0 [0.9, 1.1]"), Item("b", 2.0, 1.9, 2.1, "2.0 [1.9, 2.1]"),
             Item("c", 2.0, 1.9, 2.1, "2.0 [1.9, 2.1]"), Item("d", 3.0, 2.0, math.inf, "3.0+"),
             Item("e", 5.0, 4.0, math.inf, "5+")]
    assert ladder(items) == ["a < b, c: 1.0 [0.9, 1.1] against 2.0 [1.9, 2.1]",
                             "b, c 2.0 [1.9, 2.1], d 3.0+: not separated",
                             "d 3.0+, e 5+: not separated"]
    one_seed = [Item("x", 19.8, -math.inf, math.inf, "19.8"), Item("y", 29.5, -math.inf, math.inf, "29.5")]
    assert ladder(one_seed) == ["x 19.8, y 29.5: not separated"]


def test_bleu_over_seeds_has_a_t_interval_in_bleu_units_and_one_seed_orders_nothing():
    def cell(arch, seed, bleu):
        return make_record(arch, "translation", distance="5-12", seed=seed, overall={"sacrebleu": bleu})

    text = markdown([cell("seq2seq", 0, 20.0), cell("seq2seq", 1, 21.0), cell("transformer", 0, 35.0),
                     cell("transformer", 1, 35.2)], "two")
    assert "seq2seq 20.5 [14.1, 26.9]" in text and "  - seq2seq < transformer: 20.5 [14.1, 26.9] against" in text
    one = markdown([cell("seq2seq", 0, 20.0), cell("transformer", 0, 35.0)], "one")
    assert "one seed: no interval, no ordering" in one and "  - seq2seq 20.0, transformer 35.0: not separated" in one


def test_the_command_rewrites_a_block_and_check_fails_on_a_changed_number(tmp_path, capsys):
    res = tmp_path / "tiny"
    for r in [r for s in range(3) for r in curve("gru", s, {2: 0.99, 8: 0.98, 32: 0.97})]:
        store.save(res, r)
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{BEGIN.format(name='tiny')}\nold\n{END.format(name='tiny')}\nafter\n")
    assert main(["claims", str(res), "--readme", str(readme), "--check"]) == 1
    assert capsys.readouterr().out.count("\n") == 1
    assert main(["claims", str(res), "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert blocks(text)["tiny"] == markdown(store.load_dir(res).records, "tiny") and text.endswith("end -->\nafter\n")
    assert main(["claims", str(res), "--readme", str(readme), "--check"]) == 0
    readme.write_text(text.replace("32+", "33+", 1))
    capsys.readouterr()
    assert main(["claims", str(res), "--readme", str(readme), "--check"]) == 1
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "33+" in out and "32+" in out
    assert main(["claims", str(res), "--readme", str(tmp_path / "none.md")]) == 2
    readme.write_text("no markers\n")
    assert main(["claims", str(res), "--readme", str(readme)]) == 2
    capsys.readouterr()
    assert main(["claims", str(res)]) == 0 and capsys.readouterr().out == markdown(store.load_dir(res).records, "tiny")


PUBLISHED = sorted(p for p in (ROOT / "results").glob("*") if (p / "records").is_dir())


@pytest.mark.parametrize("folder", PUBLISHED, ids=[p.name for p in PUBLISHED])
def test_a_committed_claims_file_is_what_its_records_give(folder):
    """`report/claims.md`, which `seqbench report` writes, is rebuilt from the folder's records."""
    expected = markdown(store.load_dir(folder).records, folder.name)
    assert (folder / "report" / "claims.md").read_text(encoding="utf-8") == expected


def test_claims_say_why_cells_stopped_and_which_rate_the_sweep_chose_at_an_end_of_its_range():
    def cell(arch, seed, lr, bleu, stop, improving, steps=(400,)):
        def change(d):
            d["metrics"]["val"].update(stop_reason=stop, improving=improving, best_step=400)
            d["metrics"]["val"]["history"] = [{**d["metrics"]["val"]["history"][0], "step": s, "sacrebleu": bleu}
                                              for s in steps]
            d["config"]["eval"]["select"] = "sacrebleu"
            d["config"]["train"].update(patience=1000, min_delta=0.1)
        return edited(make_record(arch, "translation", distance="5-12", seed=seed, lr=lr,
                                  overall={"sacrebleu": bleu}), change)

    records = [cell("seq2seq", 0, lr, b, "budget", True) for lr, b in ((1e-3, 40.0), (3e-3, 55.0), (1e-2, 60.0))]
    # seed 2 still improving by its loss only: its BLEU has not moved since step 400, 1600 steps before its end
    records += [cell("seq2seq", 1, 1e-2, 61.0, "plateau", True), cell("seq2seq", 2, 1e-2, 59.0, "budget", True,
                                                                      steps=(400, 2000))]
    records += [cell("transformer", 0, lr, b, "solved", None) for lr, b in ((1e-3, 90.0), (3e-3, 99.0), (1e-2, 95.0))]
    text = markdown(records, "swept")
    assert ("- translation: learning rate chosen on validation sacrebleu by the sweep: seq2seq 0.01 of 0.001, 0.003, "
            "0.01 (the largest tried); transformer 0.003 of 0.001, 0.003, 0.01.") in text
    # the table's cells only (the chosen rate's): seq2seq's three seeds at 1e-2, the transformer's one at 3e-3
    assert ("seq2seq plateau 1, budget 2 (2 still improving, 1 by the score); transformer solved 1.") in text
