"""The HTML report opened in a real browser: headless Chromium renders it and screenshots it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from seqbench.cli import main

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True,
                          timeout=120)


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install chromium)")
def test_report_renders_in_headless_chromium_with_tables_and_images(tmp_path):
    shutil.copytree(ROOT / "results" / "quick-cpu" / "records", tmp_path / "res" / "records")
    assert main(["report", str(tmp_path / "res")]) == 0
    page = tmp_path / "res" / "report" / "report.html"
    # the DOM after rendering: every table and image is there, and every image loaded (naturalWidth > 0)
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", """<script>
      window.addEventListener('load', () => {
        const imgs = [...document.images];
        const p = document.createElement('pre'); p.id = 'probe';
        p.textContent = 'tables=' + document.querySelectorAll('table').length + ' images=' + imgs.length
          + ' loaded=' + imgs.filter(i => i.complete && i.naturalWidth > 0).length;
        document.body.appendChild(p);
      });</script></body>"""), encoding="utf-8")
    (tmp_path / "res" / "report" / "probe.html").write_text(probe.read_text(encoding="utf-8"), encoding="utf-8")
    dom = chromium("--virtual-time-budget=10000", "--dump-dom",
                   (tmp_path / "res" / "report" / "probe.html").as_uri(), profile=tmp_path / "profile")
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = page.read_text(encoding="utf-8")
    tables, images = html.count("<table"), html.count("<img ")
    assert tables >= 1 + 2 * 3 + 2 and images >= 1 + 2 * 3  # summary, per task 2 tables, environment, config
    assert f"tables={tables} images={images} loaded={images}" in dom.stdout
    shot = tmp_path / "report.png"
    done = chromium(f"--screenshot={shot}", "--window-size=1400,3000", "--hide-scrollbars", page.as_uri(),
                    profile=tmp_path / "profile")
    assert done.returncode == 0, done.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000  # a page with tables and figures, not blank
