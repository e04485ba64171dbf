"""The synthetic language pair of the translation task: vocabulary, a vectorized sentence sampler, the translator.

Source (English-like, SVO): `NP VERB NP`, where a noun phrase is `DET ADJ* NOUN` and any noun may take a relative
clause `that VERB NP` (subject relative), chained: "the dog that saw some cat that chased the birds".
Target (German/Japanese-like, verb-final): nouns come right after their determiner, each adjective follows the
noun with a suffix token agreeing in gender and number; relative clauses are centre-embedded with their verbs last
in reverse order; the main verb is last. Determiners and relative pronouns agree with their noun, verbs with their
subject's number. Target words are upper-case glosses, e.g. `THE.m.sg DOG BIG -m.sg`.

Every source token aligns with one target token (the suffix tokens align with nothing). A sentence is built from
`k` relative clauses and `a` adjectives: its length is `5 + 4k + a` tokens, so any length from 5 up can be drawn.
"""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import Tensor

from seqbench.contract.specs import EOS, N_SPECIAL, PAD, SPECIAL_NAMES

MIN_LEN = 5  # "the dog saw some cat": the shortest sentence
PAD_CAT, DET, THAT, NOUN, ADJ, VERB = range(6)  # word categories of source tokens (target tokens are -1)
GENDERS, NUMBERS = ("m", "f", "n"), ("sg", "pl")
NOUNS = "dog cat bird horse cow goat duck wolf owl lion hen frog bear seal swan rat bee crab ant pig hawk mole toad yak"
ADJECTIVES = "big small red old young happy tall green blue quick lazy brave calm dark wild shy"
VERBS = "saw chased liked helped found followed fed heard knew met called watched pushed pulled greeted loved"


def _names(words: str, n: int, stem: str) -> list[str]:
    base = words.split()
    return base[:n] + [f"{stem}{i}" for i in range(len(base), n)]


class Grammar:
    """Token ids, words and the two operations of the synthetic language pair."""

    def __init__(self, n_nouns: int, n_adjectives: int, n_verbs: int, max_adjectives: int) -> None:
        self.n_nouns, self.n_adjs, self.n_verbs, self.max_adjs = n_nouns, n_adjectives, n_verbs, max_adjectives
        # source ids: the/some, that, nouns (2 per lexeme: sg, pl), adjectives, verbs
        self.s_det = N_SPECIAL
        self.s_that = self.s_det + 2
        self.s_noun = self.s_that + 1
        self.s_adj = self.s_noun + 2 * n_nouns
        self.s_verb = self.s_adj + n_adjectives
        # target ids: determiners (definite x gender x number), relative pronouns, nouns, adjectives, suffixes, verbs
        self.t_det = self.s_verb + n_verbs
        self.t_rel = self.t_det + 12
        self.t_noun = self.t_rel + 6
        self.t_adj = self.t_noun + 2 * n_nouns
        self.t_agr = self.t_adj + n_adjectives
        self.t_verb = self.t_agr + 6
        self.vocab_size = self.t_verb + 2 * n_verbs
        self.n_target_types = self.vocab_size - self.t_det  # target content word types: chance is 1 / this
        cat = torch.full((self.vocab_size,), -1, dtype=torch.long)
        cat[PAD] = PAD_CAT
        bounds = (self.s_det, self.s_that, self.s_noun, self.s_adj, self.s_verb, self.t_det)
        for lo, hi, c in zip(bounds, bounds[1:], (DET, THAT, NOUN, ADJ, VERB)):
            cat[lo:hi] = c
        self.category = cat  # (V,) category of each id
        A = max_adjectives  # per grid column of a noun phrase (that, verb, det, adj * A, noun): first id, choices
        self._col_base = torch.tensor([self.s_that, self.s_verb, self.s_det] + [self.s_adj] * A + [self.s_noun])
        self._col_range = torch.tensor([1, n_verbs, 2] + [n_adjectives] * A + [2 * n_nouns])
        self.words = self._words()  # (V,) text of each id

    def _words(self) -> list[str]:
        nouns = _names(NOUNS, self.n_nouns, "noun")
        adjs, verbs = _names(ADJECTIVES, self.n_adjs, "adj"), _names(VERBS, self.n_verbs, "verb")
        feats = [f"{g}.{n}" for g in GENDERS for n in NUMBERS]  # feature index = gender * 2 + number
        src = ["the", "some", "that"] + [w + s for w in nouns for s in ("", "s")] + adjs + verbs
        tgt = [f"{d}.{f}" for d in ("THE", "SOME") for f in feats] + [f"THAT.{f}" for f in feats]
        tgt += [w.upper() for w in src[3 : 3 + 2 * self.n_nouns]] + [w.upper() for w in adjs]
        tgt += [f"-{f}" for f in feats] + [f"{v.upper()}.{n}" for v in verbs for n in NUMBERS]
        return list(SPECIAL_NAMES) + src + tgt

    def encode(self, text: str) -> Tensor:
        """Ids of a space-separated source or target text. -> (L,) long."""
        index = {w: i for i, w in enumerate(self.words)}
        return torch.tensor([index[w] for w in text.split()], dtype=torch.long)

    def k_range(self, length: Tensor) -> tuple[Tensor, Tensor]:
        """Fewest and most relative clauses a sentence of `length` tokens can have. (B,) -> (B,), (B,)."""
        a = self.max_adjs  # L = 5 + 4k + adjectives, adjectives <= a * (k + 2)
        k_lo = ((length - MIN_LEN - 2 * a).clamp(min=0) + 3 + a) // (4 + a)
        return k_lo, (length - MIN_LEN) // 4

    def max_tgt_len(self, lo: int, hi: int) -> int:
        """Longest target (EOS included) of a sentence with lo..hi source tokens: source + adjective suffixes + 1."""
        length = torch.arange(lo, hi + 1)
        k_lo, _ = self.k_range(length)
        return int((2 * length - MIN_LEN - 4 * k_lo).max()) + 1

    def draw(self, n: int, lo: int, hi: int, g: torch.Generator) -> tuple[Tensor, Tensor]:
        """`n` source sentences with lengths uniform in lo..hi. -> src (n, hi) right-padded, length (n,).

        One `randint` call gives every random choice (as residues of 31-bit integers: bias below 1e-6).
        """
        A, C = self.max_adjs, self.max_adjs + 4  # grid columns per noun phrase: that, verb, det, adj * A, noun
        U = 2 + (hi - MIN_LEN) // 4  # most noun phrases a sentence can hold
        r = torch.randint(1 << 31, (n, 3 + U * (A + C)), generator=g)  # (n, R)
        length = lo + r[:, 0] % (hi - lo + 1)  # (n,)
        k_lo, k_hi = self.k_range(length)
        k = k_lo + r[:, 1] % (k_hi - k_lo + 1)  # (n,) relative clauses
        head = 1 + r[:, 2] % (k + 1)  # (n,) NP index of the object; the NPs before it are the subject's
        n_adj = length - MIN_LEN - 4 * k  # (n,) adjectives, spread uniformly over the (k + 2) * A free slots
        u = torch.arange(U)
        used = u < (k + 2)[:, None]  # (n, U) noun phrases in use
        score = r[:, 3 : 3 + U * A] * (U * A) + torch.arange(U * A)  # (n, U*A) distinct random scores
        score = score.masked_fill(~used.repeat_interleave(A, 1), 1 << 62)
        cut = F.pad(score.sort(1).values, (1, 0), value=-1).gather(1, n_adj[:, None])  # (n, 1) n_adj-th smallest
        per_np = (score <= cut).view(n, U, A).sum(2)  # (n, U) adjectives of each noun phrase
        tok = self._col_base + r[:, 3 + U * A :].view(n, U, C) % self._col_range  # (n, U, C)
        relative = used & (u >= 1) & (u != head[:, None])  # (n, U) noun phrases introduced by "that VERB"
        main = (u == head[:, None])  # the object's verb slot holds the main verb
        adj = torch.arange(A) < per_np[:, :, None]  # (n, U, A)
        valid = torch.cat([relative[..., None], (relative | main)[..., None], used[..., None], adj, used[..., None]], 2)
        tok, valid = tok.view(n, U * C), valid.view(n, U * C)
        pos = torch.where(valid, valid.to(torch.int32).cumsum(1) - 1, hi).long()  # (n, U*C); dropped: column hi
        src = torch.zeros(n, hi + 1, dtype=torch.long).scatter_(1, pos, tok)[:, :hi]  # (n, hi)
        return src, length

    def translate(self, src: Tensor) -> tuple[Tensor, Tensor]:
        """Target of each source sentence, and its longest alignment span.

        src (B, S) right-padded -> tgt (B, T) ending with EOS, span (B,) = max |source pos - target pos| over
        aligned word pairs.
        """
        B, S = src.shape
        U = S // 2 + 1  # every noun phrase has at least two tokens
        cat = self.category[src]  # (B, S)
        is_det, is_that, is_noun, is_adj, is_verb = (cat == c for c in (DET, THAT, NOUN, ADJ, VERB))
        valid = cat != PAD_CAT
        nps = is_det.long().cumsum(1)  # (B, S) determiners so far
        unit = torch.where(is_that | is_verb, nps, nps - 1).clamp(0, U - 1)  # (B, S) noun phrase of each token
        prev = F.pad(cat[:, :-1], (1, 0))
        is_main = is_verb & (prev != THAT)  # the main verb is the one verb not introduced by "that"
        head = (unit * is_main).sum(1, keepdim=True)  # (B, 1) noun phrase of the object
        pos = torch.arange(S).expand(B, S)

        def per_np(mask: Tensor, value: Tensor) -> Tensor:  # (B, S) -> (B, U): value at the masked token of each NP
            out = torch.zeros(B, U + 1, dtype=torch.long)
            return out.scatter_(1, torch.where(mask, unit, U), value)[:, :U]

        noun = per_np(is_noun, src - self.s_noun)  # (B, U) lexeme * 2 + number
        feat = (noun // 2 % 3) * 2 + noun % 2  # (B, U) gender * 2 + number
        det_pos = per_np(is_det, pos)  # (B, U)
        own = feat.gather(1, unit)  # (B, S) features of the token's own noun phrase
        ante = feat.gather(1, (unit - 1).clamp(min=0))  # (B, S) features of the antecedent (the NP before)
        subj_num = torch.where(is_main, feat[:, :1], ante) % 2  # (B, S) number of each verb's subject

        tgt = torch.full_like(src, PAD)
        tgt = torch.where(is_det, self.t_det + (src - self.s_det) * 6 + own, tgt)
        tgt = torch.where(is_that, self.t_rel + ante, tgt)
        tgt = torch.where(is_noun, self.t_noun + src - self.s_noun, tgt)
        tgt = torch.where(is_adj, self.t_adj + src - self.s_adj, tgt)
        tgt = torch.where(is_verb, self.t_verb + (src - self.s_verb) * 2 + subj_num, tgt)
        agr = torch.where(is_adj, self.t_agr + own, PAD)  # (B, S) the suffix after each adjective

        # order key = major * M + minor. majors: subject NPs, subject relative verbs, object NPs, object relative
        # verbs, main verb. NP tokens keep source order inside their NP, except the noun, which follows its determiner.
        M = 2 * S + 2
        subj = unit < head
        np_major = torch.where(subj, unit, U + 2 + unit)
        np_minor = torch.where(is_noun, 2 * det_pos.gather(1, unit) + 1, 2 * pos)
        verb_major = torch.where(is_main, 2 * U + 4, torch.where(subj, U + 1, 2 * U + 3))
        key = torch.where(is_verb, verb_major * M + (U - unit), np_major * M + np_minor)
        big = (2 * U + 6) * M  # above every real key
        key = torch.where(valid, key, big)
        agr_key = torch.where(is_adj, np_major * M + 2 * pos + 1, big)
        keys, toks = torch.cat([key, agr_key], 1), torch.cat([tgt, agr], 1)  # (B, 2S)
        order = keys.argsort(dim=1, stable=True)
        where = torch.empty_like(order).scatter_(1, order, torch.arange(2 * S).expand(B, 2 * S))  # target positions
        span = torch.where(valid, (where[:, :S] - pos).abs(), 0).amax(1)  # (B,)
        n_tgt = valid.sum(1) + is_adj.sum(1)  # (B,) target words
        T = int(n_tgt.max()) + 1 if B else 1
        out = toks.gather(1, order)[:, :T]  # (B, T): T <= 2S, since not every token is an adjective
        out = out.masked_fill(torch.arange(T) >= n_tgt[:, None], PAD)
        out.scatter_(1, n_tgt[:, None], EOS)
        return out, span


@lru_cache(maxsize=None)
def _powers(n: int, base: int) -> Tensor:
    p, out = 1, []
    for _ in range(n):
        out.append(p - (1 << 64) if p >= 1 << 63 else p)  # as signed int64
        p = p * base % (1 << 64)
    return torch.tensor(out, dtype=torch.int64)


def split_key(src: Tensor) -> Tensor:
    """A split key of each sentence: two polynomial hashes of its tokens, blind to trailing padding, so a sentence
    lands in the same split whatever the width it is padded to. src (B, S) -> (B, 2) int64."""
    S = src.shape[1]
    src = src.to(torch.int64)
    return torch.stack([(src * _powers(S, b)).sum(1) for b in (0x100000001B3, 0x9E3779B97F4A7C15 | 1)], 1)
