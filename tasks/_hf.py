"""Parallel corpora from Hugging Face `datasets` (the optional extra `seqbench[hf]`): a `DatasetDict` saved with
`save_to_disk` (a folder holding `dataset_dict.json`), or a dataset named on the hub (`load_dataset(name, config)`,
which needs a network the first time), so WMT or IWSLT pairs run without converting files.

Splits: `train`; validation: the split named `val_prefix` if there is one, else `validation`; test: `test_prefix`
if set, else `test`, else the one split whose name starts with `test`. Columns: either `translation`, one
`{lang: text}` per row (the layout of wmt14, iwslt2017, opus books...), or one column per language named by
`src_lang` and `tgt_lang`. Anything else stops the run with one line naming what there is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seqbench.contract.errors import UserError

Pairs = list[tuple[int, str, str]]


def is_saved(root: Path) -> bool:
    """Whether `root` is a folder written by `DatasetDict.save_to_disk`."""
    return (root / "dataset_dict.json").is_file()


def _datasets() -> Any:
    try:
        import datasets
    except ImportError:
        raise UserError("translation: reading a Hugging Face dataset needs the `datasets` package: "
                        "pip install 'seqbench[hf]'") from None
    return datasets


def stamp(root: Path | None, name: str | None, config: str | None) -> tuple:
    """What identifies the data for the in-memory cache: every file of a saved folder, or the hub name."""
    if root is None:
        return ("hub", name, config)
    return tuple((str(p.relative_to(root)), p.stat().st_mtime_ns, p.stat().st_size)
                 for p in sorted(root.rglob("*")) if p.is_file())


def load(root: Path | None, name: str | None, config: str | None) -> Any:
    """The `DatasetDict` saved in `root`, or named `name` (and `config`) on the hub."""
    datasets = _datasets()
    try:
        loaded = datasets.load_from_disk(str(root)) if root is not None else datasets.load_dataset(name, config)
    except (OSError, ValueError, FileNotFoundError) as e:
        what = f"the datasets folder {root}" if root is not None else f"the hub dataset {name!r}"
        raise UserError(f"translation: cannot load {what}: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
                        ) from None
    if not isinstance(loaded, datasets.DatasetDict):
        raise UserError("translation: a datasets corpus must be a DatasetDict with train, validation and test "
                        f"splits; got one {type(loaded).__name__}")
    return loaded


def split_names(splits: list[str], val: str, test: str | None) -> dict[str, str]:
    """Our split -> the dataset's split name."""
    def pick(wanted: list[str], what: str) -> str:
        for w in wanted:
            if w in splits:
                return w
        raise UserError(f"translation: the dataset has no {what} split ({' or '.join(wanted)}); its splits: "
                        f"{', '.join(splits)}")

    if test is None:
        tests = [s for s in splits if s.startswith("test")]
        wanted_test = ["test"] + (tests if len(tests) == 1 else [])
    else:
        wanted_test = [test]
    return {"train": pick(["train"], "training"), "val": pick([val, "validation"], "validation"),
            "test": pick(wanted_test, "test")}


def pairs(data: Any, src: str, tgt: str) -> Pairs:
    """(row number, source, target) of one split, whitespace runs made one space."""
    cols = list(data.column_names)
    if "translation" in cols:
        rows = data["translation"]
        missing = [lang for lang in (src, tgt) if not rows or lang not in rows[0]]
        if missing:
            have = ", ".join(sorted(rows[0])) if rows else "nothing"
            raise UserError(f"translation: the dataset's translation column has no {' or '.join(missing)}; it has "
                            f"{have}: set task.translation.src_lang and tgt_lang")
        texts = [(r[src], r[tgt]) for r in rows]
    elif src in cols and tgt in cols:
        texts = list(zip(data[src], data[tgt]))
    else:
        raise UserError(f"translation: the dataset needs a `translation` column or columns {src!r} and {tgt!r}; it "
                        f"has {', '.join(cols)}")
    return [(i + 1, " ".join(str(s or "").split()), " ".join(str(t or "").split())) for i, (s, t) in enumerate(texts)]


def read(root: Path | None, name: str | None, config: str | None, src: str, tgt: str, val: str,
         test: str | None) -> tuple[dict[str, Pairs], dict[str, tuple[Path, ...]]]:
    """Every split's pairs, and what each was read from (for messages)."""
    loaded = load(root, name, config)
    names = split_names(list(loaded), val, test)
    where = root if root is not None else Path(name or "")
    return ({ours: pairs(loaded[theirs], src, tgt) for ours, theirs in names.items()},
            {ours: (where / theirs,) for ours, theirs in names.items()})
