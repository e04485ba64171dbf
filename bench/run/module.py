"""The LightningModule around any `Seq2SeqModel`: loss, optimizer, validation, and the test that scores greedy
generation per distance bin with torchmetrics and times it.

Generation never sees the reference: every row stops at its EOS or at a cap from its own source,
floor(eval.max_len_a * source length + eval.max_len_b) tokens, within what the model was built for (the stream
source, separator, output fits its max_len). Positional scores compare the output with the target position by
position (a missing token is wrong, one past the target's end is not looked at); text metrics read the whole
output. Validation scores the same free-running (greedy) token accuracy the tables report, `val_gen_acc`, on the
validation split, and the checkpoint tested is the first with the best of it."""

from __future__ import annotations

import math
import time
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import MeanMetric, MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassExactMatch

from seqbench.contract.checks import check_logits
from seqbench.run.config import EvalConfig, TrainConfig
from seqbench.host.beam import decode
from seqbench.records.distance import label
from seqbench.run.data import bin_index
from seqbench.contract.specs import EOS, PAD, Batch, Task, teacher_input


class Diverged(RuntimeError):
    """The training loss became NaN or infinite."""

    def __init__(self, step: int, loss: float) -> None:
        super().__init__(f"training loss became {loss} at step {step}")
        self.step = step


def lengths(x: Tensor) -> Tensor:
    """Real (non-padding) lengths of right-padded rows. (B, L) -> (B,)"""
    return (x != PAD).sum(1)


def content(tgt: Tensor) -> Tensor:
    """The target with EOS as padding: token accuracy is over content tokens. (B, T) -> (B, T)"""
    return tgt.masked_fill(tgt == EOS, PAD)


def fit(out: Tensor, t: int) -> Tensor:
    """Generated tokens cut or PAD-filled to `t` columns, for scoring position by position. (B, L) -> (B, t)"""
    if out.shape[1] >= t:
        return out[:, :t]
    return torch.cat([out, out.new_full((out.shape[0], t - out.shape[1]), PAD)], dim=1)


def _text_scores(metrics: dict[str, Any]) -> dict[str, float]:
    """Each text metric's score, and the bounds of its 95% interval over sentences where it gives one
    (`<name>_lo`, `<name>_hi`: `seqbench.records.schema.TEXT_INTERVAL`)."""
    out: dict[str, float] = {}
    for name, metric in metrics.items():
        out[name] = float(metric.compute())
        bounds = metric.interval() if callable(getattr(metric, "interval", None)) else None
        if bounds is not None:
            out[f"{name}_lo"], out[f"{name}_hi"] = bounds
    return out


def _scores(vocab: int) -> MetricCollection:
    return MetricCollection({
        "token_acc": MulticlassAccuracy(vocab, average="micro", ignore_index=PAD),
        "seq_acc": MulticlassExactMatch(vocab, ignore_index=PAD),
    })


class SeqModule(pl.LightningModule):
    """Trains a model on a task; `test` leaves per-bin scores and generation timings in `self.results`."""

    def __init__(self, model: nn.Module, task: Task, train: TrainConfig, eval: EvalConfig,
                 bins: list[tuple[int, int]], max_len: int | None = None) -> None:
        super().__init__()
        self.model, self.task, self.cfg, self.eval_cfg = model, task, train, eval
        self.max_len = max_len or task.max_src_len + 1 + task.max_tgt_len  # the longest stream the model holds
        self.bins = bins
        v = task.vocab_size
        self.val_acc = MulticlassAccuracy(v, average="micro", ignore_index=PAD)  # teacher-forced, next token
        self.val_gen = MulticlassAccuracy(v, average="micro", ignore_index=PAD)  # free-running, as the test scores
        self.val_loss = MeanMetric()
        self.test_bins = nn.ModuleList(_scores(v) for _ in bins)
        self.test_all = _scores(v)
        self.text = {name: make() for name, make in task.text_metrics().items()}  # overall text metrics
        self.text_bins = [{name: make() for name, make in task.binned_text_metrics().items()} for _ in bins]
        self.bin_counts = [0] * len(bins)  # test examples per bin
        self.bin_tokens = [0] * len(bins)  # target content tokens scored per bin
        self.span_sums: list[float] | None = None  # per bin, once the task has given spans
        self.results: dict[str, Any] = {}
        self.val_history: list[dict[str, Any]] = []  # one entry per validation: step, loss, accuracy, time_s, text
        self.val_text = {name: make() for name, make in task.text_metrics().items()} if eval.val_generate else {}
        self.val_left = 0  # validation examples still to decode for `val_text` in this validation
        self.started: float | None = None  # time.monotonic() when training started: the clock of train.max_time

    def transfer_batch_to_device(self, batch: Batch, device: torch.device, dataloader_idx: int) -> Batch:
        return batch.to(device)

    def _logits(self, batch: Batch) -> Tensor:
        logits = self.model(batch.src, lengths(batch.src), teacher_input(batch.tgt))  # (B, T, V)
        return check_logits(logits, *batch.tgt.shape, self.task.vocab_size)

    def _loss(self, logits: Tensor, tgt: Tensor, label_smoothing: float = 0.0) -> Tensor:
        return F.cross_entropy(logits.float().flatten(0, 1), tgt.flatten(), ignore_index=PAD,
                               label_smoothing=label_smoothing)

    def elapsed(self) -> float:
        """Seconds since training started (validation included, as `train.max_time` counts them)."""
        return 0.0 if self.started is None else time.monotonic() - self.started

    def on_train_start(self) -> None:
        self.started = time.monotonic()

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        loss = self._loss(self._logits(batch), batch.tgt, self.cfg.label_smoothing)
        if not torch.isfinite(loss):
            raise Diverged(self.global_step, float(loss.detach()))
        if self.trainer.loggers:  # curves for --logger; without a logger, logging every step only costs time
            self.log("train_loss", loss, batch_size=len(batch))
        return loss

    def caps(self, src_len: Tensor) -> Tensor:
        """The most tokens each row may generate, from its source alone. (B,) -> (B,)"""
        cap = torch.floor(self.eval_cfg.max_len_a * src_len.float() + self.eval_cfg.max_len_b).long()
        room = self.max_len - src_len - 1  # source, separator and output within the model's max_len
        return torch.minimum(cap, room).clamp(min=1)

    def generate(self, batch: Batch, width: int = 1) -> Tensor:
        """Greedy (width 1) or beam-search output of each row, stopped at EOS or at its cap; PAD after.
        -> (B, L), L the batch's largest cap"""
        src_len = lengths(batch.src)
        caps = self.caps(src_len)  # (B,)
        out = decode(self.model, batch.src, src_len, int(caps.max()), width, self.eval_cfg.length_penalty)
        beyond = torch.arange(out.shape[1], device=out.device)[None, :] >= caps[:, None]  # (B, L)
        return out.masked_fill(beyond, PAD)

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        logits = self._logits(batch)
        self.val_loss.update(self._loss(logits, batch.tgt), weight=int((batch.tgt != PAD).sum()))
        self.val_acc.update(logits.argmax(-1), batch.tgt)
        out = self.generate(batch)  # greedy, as the test decodes by default
        self.val_gen.update(fit(out, batch.tgt.shape[1]), content(batch.tgt))
        if batch_idx == 0:
            self.val_left = self.eval_cfg.val_generate
        if self.val_text and self.val_left > 0:
            n = min(self.val_left, len(batch))
            self.val_left -= n
            hyps, refs = self._texts(out[:n], batch.tgt[:n])
            for metric in self.val_text.values():
                metric.update(hyps, [[r] for r in refs])

    def on_validation_epoch_end(self) -> None:
        loss, acc, gen = self.val_loss.compute(), self.val_acc.compute(), self.val_gen.compute()
        self.log("val_loss", loss, prog_bar=True)
        self.log("val_acc", acc, prog_bar=True)
        self.log("val_gen_acc", gen, prog_bar=True)
        point = {"step": self.global_step, "val_loss": float(loss), "val_acc": float(acc), "val_gen_acc": float(gen),
                 "time_s": round(self.elapsed(), 3)}
        for name, metric in self.val_text.items():
            point[name] = float(metric.compute())
            self.log(f"val_{name}", point[name])  # a checkpoint may be selected on it (eval.select)
            metric.reset()
        self.val_history.append(point)
        self.val_loss.reset()
        self.val_acc.reset()
        self.val_gen.reset()

    def best_validation(self) -> dict[str, Any]:
        """The first validation with the highest `eval.select` score (the free-running accuracy by default): the
        checkpoint that is tested."""
        if not self.val_history:
            return {"best_step": None, "best_val_loss": None, "best_val_acc": None, "best_val_gen_acc": None}
        key = self.eval_cfg.select
        best = max(self.val_history, key=lambda v: v[key])  # max keeps the first of equals
        return {"best_step": best["step"], "best_val_loss": best["val_loss"], "best_val_acc": best["val_acc"],
                "best_val_gen_acc": best["val_gen_acc"]}

    def on_test_epoch_start(self) -> None:
        """Warm generation up on the first test batch, untimed, so that every test batch can be timed."""
        batches = self.trainer.test_dataloaders
        first = next(iter(batches[0] if isinstance(batches, list) else batches)).to(self.device)
        for _ in range(self.eval_cfg.generation_warmup):
            self._decode(first)

    def _decode(self, batch: Batch) -> Tensor:
        """Greedy or beam-search generation, as `eval.beam_width` says. -> tokens (B, L)."""
        return self.generate(batch, self.eval_cfg.beam_width)

    def test_step(self, batch: Batch, batch_idx: int) -> Tensor:
        """Generation only (timed by `measure.GenerationThroughput`); scoring follows in `on_test_batch_end`.
        -> tokens (B, T)."""
        return self._decode(batch)

    def on_test_batch_end(self, out: Tensor, batch: Batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        """Score one generated batch, per distance bin: positionally against the target, texts in whole."""
        texts = self._texts(out, batch.tgt) if self.text or self.text_bins[0] else None
        out = fit(out, batch.tgt.shape[1])  # (B, T): position by position against the target
        target = content(batch.tgt)  # token accuracy is over content, not EOS
        which = bin_index(batch.distance, self.bins)  # (B,)
        spans = self.task.alignment_spans(batch)  # (B,), or None for a task without alignments
        self.test_all["token_acc"].update(out, target)
        self.test_all["seq_acc"].update(out, batch.tgt)
        for j in range(len(self.bins)):
            mask = which == j
            n = int(mask.sum())
            if n == 0:
                continue
            self.bin_counts[j] += n
            self.bin_tokens[j] += int((target[mask] != PAD).sum())
            if spans is not None:
                self.span_sums = self.span_sums or [0.0] * len(self.bins)
                self.span_sums[j] += float(spans[mask].sum())
            self.test_bins[j]["token_acc"].update(out[mask], target[mask])
            self.test_bins[j]["seq_acc"].update(out[mask], batch.tgt[mask])
            if texts is not None:
                idx = mask.nonzero().flatten().tolist()
                for metric in self.text_bins[j].values():
                    metric.update([texts[0][i] for i in idx], [[texts[1][i]] for i in idx])
        if texts is not None:
            for metric in self.text.values():
                metric.update(texts[0], [[t] for t in texts[1]])

    def _texts(self, out: Tensor, tgt: Tensor) -> tuple[list[str], list[str]]:
        """Hypotheses (decoded) and references (the task's reference text of each target)."""
        return ([self.task.decode(r) for r in out.tolist()], [self.task.reference_text(r) for r in tgt.tolist()])

    def on_test_epoch_end(self) -> None:
        bins = []
        for j, (lo, hi) in enumerate(self.bins):
            if self.bin_counts[j] == 0:
                continue
            row = {"lo": lo, "hi": hi, "label": label(lo, hi), "n": self.bin_counts[j], "tokens": self.bin_tokens[j]}
            row.update({k: float(v) for k, v in self.test_bins[j].compute().items()})
            row.update(_text_scores(self.text_bins[j]))
            if self.span_sums is not None:
                row["mean_alignment_span"] = self.span_sums[j] / self.bin_counts[j]
            bins.append(row)
        overall = {"n": sum(self.bin_counts), "tokens": sum(self.bin_tokens)}
        overall.update({k: float(v) for k, v in self.test_all.compute().items()})
        overall.update(_text_scores(self.text))
        signatures = {k: m.signature() for k, m in self.text.items() if callable(getattr(m, "signature", None))}
        self.results = {"bins": bins, "overall": overall, "text_signatures": signatures}

    def configure_optimizers(self) -> Any:
        opt = torch.optim.AdamW(self.model.parameters(), lr=self.cfg.lr, weight_decay=self.cfg.weight_decay)
        warm, total = self.cfg.warmup_steps, self.cfg.max_steps

        budget = self.cfg.max_time

        def factor(step: int) -> float:  # linear warm-up, then cosine to 10% of the peak
            if step < warm:
                return (step + 1) / warm
            progress = min(1.0, (step - warm) / max(1, total - warm))
            if budget is not None:  # a time budget: decay with whichever budget is nearer its end
                progress = max(progress, min(1.0, self.elapsed() / budget))
            return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
