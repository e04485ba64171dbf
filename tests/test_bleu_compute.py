"""Validation BLEU at equal training time and at equal training FLOPs, with generation speed beside them (issue 25,
item 3), on tiny real records: the FLOP budget is the smallest total among cells that ran to their budget, every
cell is scored at its best validation up to it, and the report and the claims carry the table."""

from __future__ import annotations

import math

import pytest

from _records import make_record
from seqbench.publish import bleu_compute, claims
from seqbench.publish.report import write_report
from seqbench.publish.tables import prepared


def _record(arch: str, seed: int, bleus: list[float], flops_per_step: float, steps: int = 1000,
            stop: str = "budget", gen_tps: float = 3.4e4):
    history = [{"step": steps * (i + 1) // len(bleus), "val_loss": 2.0, "val_acc": 0.3, "val_gen_acc": 0.2,
                "time_s": 10.0 * (i + 1), "sacrebleu": b} for i, b in enumerate(bleus)]
    r = make_record(arch, "translation", distance="5-12", seed=seed, history=history, gen_tps=gen_tps,
                    train_steps=steps, train_flops=flops_per_step * steps)
    data = r.to_dict()
    data["metrics"]["val"].update(stop_reason=stop, stopped=None if stop == "budget" else stop)
    return type(r).model_validate(data)


def records():
    """seq2seq: 1e6 FLOPs a step, BLEU 10-30; transformer: 4e6 a step, BLEU 5-35: the transformer wins at equal
    time (its whole training), the seq2seq at equal FLOPs (a quarter of the transformer's training)."""
    out = [_record("seq2seq", s, [10 + s, 20 + s, 25 + s, 30 + s], 1e6, gen_tps=5e4) for s in range(3)]
    out += [_record("transformer", s, [5 + s, 15 + s, 28 + s, 35 + s], 4e6, gen_tps=2e4) for s in range(3)]
    return out


def test_equal_flops_is_the_smallest_total_and_each_cell_scores_its_best_validation_up_to_it():
    t = bleu_compute.table(prepared(records()), "translation").set_index("arch")
    assert t.loc["seq2seq", "flops_budget"] == pytest.approx(1e9)
    s2s, tr = t.loc["seq2seq"], t.loc["transformer"]
    assert s2s["time"].mean == pytest.approx(31) and tr["time"].mean == pytest.approx(36)
    assert s2s["flops"].mean == pytest.approx(31) and tr["flops"].mean == pytest.approx(6)  # step 250 of 1000
    assert tr["flops_step"] == 250 and s2s["seeds"] == 3 and s2s["time"].method == "t"
    assert tr["gen_tps"] == 2e4


def test_a_plateaued_cell_keeps_its_best_and_does_not_set_the_flop_budget():
    rs = records() + [_record("seq2seq-attn", 0, [12, 18], 1e6, steps=400, stop="plateau")]
    t = bleu_compute.table(prepared(rs), "translation").set_index("arch")
    assert t.loc["seq2seq-attn", "flops_budget"] == pytest.approx(1e9)  # not its 4e8
    assert t.loc["seq2seq-attn", "flops"].mean == 18 and t.loc["seq2seq-attn", "flops"].method == "none"


def test_cells_without_validation_bleu_or_flops_give_no_table():
    plain = [make_record("seq2seq", "translation", distance="5-12")]
    assert bleu_compute.table(prepared(plain), "translation").empty
    assert bleu_compute.document_cells(prepared(plain), "translation")[1] == []
    assert not any("equal training FLOPs" in line for line in claims.markdown(plain, "x").splitlines())


def test_the_report_and_the_claims_carry_both_views_with_generation_speed(tmp_path):
    rs = records()
    headers, rows = bleu_compute.document_cells(prepared(rs), "translation")
    assert headers[4:6] == ["val BLEU, equal time", "val BLEU, equal FLOPs"]
    assert rows[0][0] == "seq2seq" and rows[0][5].startswith("31.0 [") and rows[0][-1] == "50,000"
    write_report(rs, tmp_path)
    report = (tmp_path / "report.md").read_text()
    assert "val BLEU, equal FLOPs" in report and "smallest total among the cells that ran to their budget" in report
    text = claims.markdown(rs, "x")
    assert "validation sacreBLEU at equal training FLOPs (1e+09, the smallest total)" in text
    assert "transformer 6.0 [" in text and "seq2seq 31.0 [" in text
    assert "generation tokens/s beside them, median over seeds: seq2seq 50,000, transformer 20,000" in text
    assert not math.isnan(bleu_compute.table(prepared(rs), "translation")["steps"].iloc[0])
