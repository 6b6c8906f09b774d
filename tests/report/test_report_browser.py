"""Headless Chromium renders demo.html and a study report, and every figure decodes.

A copy of each page gets an inline script that, after the load event, writes each image's
``complete``/``naturalWidth``/``naturalHeight`` into the DOM; ``--dump-dom`` returns it.
Skipped only where no Chromium is installed (``.ci/setup-extra`` installs it where it can).
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from coinfactor.studies._demo import DemoResult

pytestmark = pytest.mark.browser

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
CHECK_SCRIPT = """<script>
window.addEventListener("load", function () {
  var out = document.createElement("pre");
  out.id = "img-check";
  out.textContent = JSON.stringify(Array.prototype.map.call(document.images, function (i) {
    return [i.complete, i.naturalWidth, i.naturalHeight];
  }));
  document.body.appendChild(out);
});
</script>"""
CHECK_RE = re.compile(r'<pre id="img-check">(.*?)</pre>', re.DOTALL)


def _browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no Chromium installed (apt-get install chromium; see .ci/setup-extra)")


def _image_states(page: Path, tmp_path: Path) -> list[list[object]]:
    """Load a copy of ``page`` (same directory, so relative links hold) with the check."""
    probe = page.with_name(f"_probe_{page.name}")
    probe.write_text(page.read_text("utf-8").replace("</body>", CHECK_SCRIPT + "</body>"),
                     "utf-8")
    try:
        proc = subprocess.run(
            [_browser(), "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--no-first-run", "--disable-extensions", f"--user-data-dir={tmp_path / 'prof'}",
             "--virtual-time-budget=10000", "--dump-dom", probe.resolve().as_uri()],
            capture_output=True, text=True, timeout=120, check=False,
        )
    finally:
        probe.unlink()
    match = CHECK_RE.search(proc.stdout)
    assert match, f"no image check in the dumped DOM; stderr:\n{proc.stderr[-2000:]}"
    states: list[list[object]] = json.loads(html.unescape(match.group(1)))
    return states


def test_demo_index_and_report_render(demo: DemoResult, tmp_path: Path) -> None:
    index = demo.index
    report = demo.out_dir / "tiny" / "report.html"
    assert 'href="tiny/report.html"' in index.read_text("utf-8")
    for page in (index, report):
        n_img = page.read_text("utf-8").count("<img ")
        states = _image_states(page, tmp_path)
        assert n_img > 0 and len(states) == n_img, page
        for complete, width, height in states:
            assert complete is True and int(width) > 100 and int(height) > 100, (page, states)


def test_check_detects_broken_images(tmp_path: Path) -> None:
    """The probe can fail: a corrupt inline PNG and a missing file do not decode."""
    page = tmp_path / "broken.html"
    page.write_text('<html><body><img src="data:image/png;base64,AAAA">'
                    '<img src="missing.png"></body></html>')
    assert [int(w) for _, w, _ in _image_states(page, tmp_path)] == [0, 0]
