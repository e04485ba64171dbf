"""The published results are what the commands produce from the committed records."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from seqbench.records import store as results
from seqbench.cli import main

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = sorted(p for p in (ROOT / "results").glob("*") if (p / "records").is_dir())


@pytest.mark.parametrize("folder", PUBLISHED, ids=[p.name for p in PUBLISHED])
def test_committed_report_matches_a_rebuild(folder, tmp_path, monkeypatch, capsys):
    loaded = results.load_dir(folder)
    assert loaded.records and not loaded.bad
    assert all(r["status"] == "ok" for r in loaded.dicts())
    copy = tmp_path / "results" / folder.name
    shutil.copytree(folder / "records", copy / "records")
    monkeypatch.chdir(tmp_path)
    assert main(["report", f"results/{folder.name}"]) == 0
    rebuilt = (copy / "report" / "report.md").read_text()
    assert rebuilt == (folder / "report" / "report.md").read_text()
    capsys.readouterr()
    assert main(["table", f"results/{folder.name}", "--format", "markdown"]) == 0
    table = capsys.readouterr().out
    for line in table.splitlines():
        if line.startswith("| ") and "arch" not in line:
            assert line in rebuilt  # the table is the report's table


def test_readme_shows_the_published_quick_table():
    readme = (ROOT / "README.md").read_text()
    report = (ROOT / "results" / "quick-cpu" / "report" / "report.md").read_text()
    start = readme.index("## Results")
    results = readme[start:readme.index("\n## ", start + 1)]  # the section, up to the next one
    rows = [line for line in results.splitlines() if line.startswith("| ") and not line.startswith("| arch")]
    assert len(rows) >= 7 and all(row in report for row in rows)


def _section(heading: str) -> str:
    """The README section that starts with `heading`, up to the next one."""
    readme = (ROOT / "README.md").read_text()
    start = readme.index(heading)
    return readme[start:readme.index("\n## ", start + 1)]


def _section_rows(heading: str) -> list[str]:
    """The table rows (header rows left out) of the README section that starts with `heading`."""
    return [line for line in _section(heading).splitlines() if line.startswith("| ") and not line.startswith("| arch")]


DECIMAL = re.compile(r"(?<![\w.])\d+\.\d+(?![\w.])")  # 78.4, 0.82; not 1e-2, 2.6.0 or x1.5


def _prose_and_generated(heading: str) -> tuple[str, str]:
    """A README section split into its prose and what commands generate in it: its tables (checked against the
    reports) and its claims blocks (checked against the records)."""
    section = _section(heading)
    generated = "\n".join(m.group(0) for m in re.finditer(r"<!-- claims:(\S+) begin -->.*?<!-- claims:\1 end -->",
                                                             section, re.S))
    prose = re.sub(r"<!-- claims:(\S+) begin -->.*?<!-- claims:\1 end -->", "", section, flags=re.S)
    rows = [line for line in prose.splitlines() if line.startswith("|")]
    prose = "\n".join(line for line in prose.splitlines() if not line.startswith("|"))
    return re.sub(r"`[^`]*`", "", prose), generated + "\n" + "\n".join(rows)


@pytest.mark.parametrize("heading, profile", [("## Synthetic translation", "translation")])
def test_every_decimal_number_in_a_results_sections_prose_is_one_its_table_or_claims_give(heading, profile):
    """Issue 25, item 4: the prose quotes the generated table and claims, which tests hold to the records, or the
    profile's settings; a number typed by hand that none of them gives fails here."""
    prose, generated = _prose_and_generated(heading)
    generated += (ROOT / "bench" / "profiles" / f"{profile}.toml").read_text()
    quoted = DECIMAL.findall(prose)
    assert quoted, "no number to check: the section's prose changed shape"
    missing = sorted({n for n in quoted if not re.search(rf"(?<![\w.]){re.escape(n)}(?![\w])", generated)})
    assert not missing, f"{heading}: prose numbers no table or claims line gives: {', '.join(missing)}"


def test_readme_shows_the_published_multi30k_table():
    report = (ROOT / "results" / "multi30k-cpu" / "report" / "report.md").read_text()
    rows = _section_rows("## Translation on a real corpus")
    assert len(rows) == 3 and all(row in report for row in rows)


def test_readme_shows_the_published_translation_table():
    report = (ROOT / "results" / "translation-cpu" / "report" / "report.md").read_text()
    rows = _section_rows("## Synthetic translation")
    assert len(rows) == 3 and all(row in report for row in rows)


def test_the_quick_profiles_rates_are_the_reference_sweeps_choices_as_the_readme_says():
    """`bench/profiles/quick.toml`'s `[lr.<task>]` tables carry the committed reference sweep's choices, an
    architecture left out of them chose its own rate, and the README's sentences about them say what the records
    give: each choice that is not the architecture's own rate, and the one tie at chance with its scores."""
    from seqbench.contract import registry
    from seqbench.publish.sweeps import sweep_table
    from seqbench.publish.views import tidy
    from seqbench.run.sources import tomllib

    root = Path(__file__).resolve().parents[1]
    table = sweep_table(tidy(results.load_dir(root / "results/reference-cpu").records))
    chosen = table[table["chosen"]]
    assert len(chosen) == 6, "the reference sweep's first stage (rnn, lstm, gru on copy and cloze) is committed whole"
    profile = tomllib.loads((root / "bench/profiles/quick.toml").read_text())["lr"]
    reg = registry.load(entry_points=False)
    readme = " ".join((root / "README.md").read_text().split())
    moved = []
    for r in chosen.to_dict("records"):
        own = reg.arch(r["arch"]).train.get("lr", 3e-3)
        assert profile.get(r["task"], {}).get(r["arch"], own) == r["lr"], (r["task"], r["arch"], r["lr"])
        if r["lr"] != own:
            moved.append(f"{r['arch']} {r['lr']:.0e} on {r['task']}".replace("e-0", "e-"))
    assert f"so far: {', '.join(sorted(moved))}; the other {6 - len(moved)} choices equal" in readme
    ties = chosen[chosen["why"].str.contains("tied with")]
    assert [(t, a) for t, a in zip(ties["task"], ties["arch"])] == [("cloze", "rnn")]
    scores = table[(table["task"] == "cloze") & (table["arch"] == "rnn")]["val_acc"]
    assert (f"the rnn is at chance at every rate (mean best validation accuracy {scores.min():.3f}-{scores.max():.3f}"
            f" over the rates), so its choice there ({ties['lr'].iloc[0]:.0e}) is the tie-break".replace("e-0", "e-")
            in readme)
