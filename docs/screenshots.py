"""Take the README's screenshots of the web face from the demo's data, in headless Chromium.

    python bot.py demo --no-serve && python docs/screenshots.py data/demo

Writes docs/board.png, docs/screening.png, docs/chapter.png and docs/board-phone.png.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from storage import cuts  # noqa: E402
from studio.app import Studio  # noqa: E402
from studio.ops import screening_links  # noqa: E402
from studio.ops.settings import load_settings  # noqa: E402
from studio.production import board  # noqa: E402
from tests.web.browser import Browser, install_chromium  # noqa: E402
from web.app import WebServer  # noqa: E402

DOCS = ROOT / "docs"
SEEK = """new Promise((resolve, reject) => {
  const film = document.getElementById('film');
  film.addEventListener('seeked', () => setTimeout(resolve, 300), {once: true});
  const go = () => document.querySelectorAll('.marks button')[2].click();
  film.readyState >= 1 ? go() : film.addEventListener('loadedmetadata', go, {once: true});
  setTimeout(() => reject(new Error('no seek')), 20000);
}).then(() => { document.getElementById('film').pause(); return true; })"""


async def main(data_dir: Path) -> None:
    chromium, why = install_chromium()
    if chromium is None:
        raise SystemExit(f"no Chromium: {why}")
    studio = await Studio.open(load_settings(data_dir=data_dir))
    server = WebServer(studio, host="127.0.0.1", port=0)
    await server.start()
    try:
        prod = await board.get(studio.db, board.SHELL_GUILD)
        latest = await cuts.latest(studio.db.reader, prod.id)
        assert latest is not None, "run the demo first"

        def link(path: str) -> str:
            return screening_links.page_link(studio.settings, prod.id, path, base=server.url)

        async with Browser(chromium) as browser:
            page = await browser.open(link("/"), width=1200, height=900)
            await browser.screenshot(page, DOCS / "board.png")
            page = await browser.open(link("/"), width=390, height=844)
            await browser.screenshot(page, DOCS / "board-phone.png", full_page=False)
            page = await browser.open(link(f"/cuts/{latest.version}"), width=1200, height=900)
            await browser.evaluate(page, SEEK)
            await browser.screenshot(page, DOCS / "screening.png")
            page = await browser.open(link("/chapters/1"), width=1200, height=900)
            await browser.screenshot(page, DOCS / "chapter.png", full_page=False)
    finally:
        await server.stop()
        await studio.close()
    # 256 colours: small files for the README.
    from PIL import Image

    for name in ("board", "board-phone", "screening", "chapter"):
        shot = DOCS / f"{name}.png"
        Image.open(shot).convert("RGB").quantize(256).save(shot, optimize=True)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1] if len(sys.argv) > 1 else "data/demo")))
