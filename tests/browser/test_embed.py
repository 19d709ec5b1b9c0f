"""A partner's site frames the roll (issue 12): /embed/allies shows inside an <iframe> on a page
served from another loopback port, its links opening the Ally's page in a new tab, while /allies
framed the same way is refused by the browser (frame-ancestors 'none')."""

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

PARTNER_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>A partner's site</title></head>
<body><h1>Our friends</h1>
<iframe src="{src}" title="Allies" width="800" height="600"
  onload="document.body.dataset.framed = 'yes'"></iframe>
</body></html>"""


class Partner:
    """A tiny site on its own loopback port: /embed.html and /allies.html each frame a page of
    the live server."""

    def __init__(self, server_url: str):
        pages = {
            "/embed.html": PARTNER_PAGE.format(src=server_url + "/embed/allies"),
            "/allies.html": PARTNER_PAGE.format(src=server_url + "/allies"),
        }

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (the http.server name)
                body = pages.get(self.path, "").encode()
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):  # quiet
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def _child_frame(page):
    page.wait_for_function("document.body.dataset.framed === 'yes'")
    [child] = [frame for frame in page.frames if frame != page.main_frame]
    return child


def test_a_partner_frames_the_embed_and_its_links_open_in_a_new_tab(web, server, site):
    with Partner(server.url) as partner:
        page = web.page()
        page.goto(partner.url + "/embed.html")
        frame = page.frame_locator("iframe")
        link = frame.get_by_role("link", name=re.compile(re.escape(site.ally_name)))
        expect(link).to_be_visible()
        assert link.get_attribute("target") == "_blank"
        assert link.get_attribute("rel") == "noopener"
        expect(frame.get_by_role("heading", level=1)).to_contain_text("Allies of the")
        web.shot(page, "partner-embed")

        with page.context.expect_page() as opened:
            link.click()
        ally_page = opened.value
        ally_page.wait_for_load_state()
        assert ally_page.url == f"{server.url}/allies/{site.ally_slug}"
        expect(ally_page.get_by_role("heading", level=1)).to_have_text(site.ally_name)
        assert page.url == partner.url + "/embed.html"  # the partner's page stays
    web.assert_no_console_errors()


def test_a_partner_cannot_frame_the_allies_page(web, server):
    with Partner(server.url) as partner:
        page = web.page()
        page.goto(partner.url + "/allies.html")
        child = _child_frame(page)
        web.shot(page, "partner-allies-refused")
        # Chromium replaces a refused frame's document with its own error page: nothing of the
        # site is shown, and the refusal is reported on the console.
        assert not child.url.startswith(server.url), child.url
        expect(page.frame_locator("iframe").locator("main#main")).to_have_count(0)
    refusals = [e for e in web.console_errors if "frame-ancestors" in e]
    assert refusals, web.console_errors


def test_the_embed_is_keyboard_usable(web, server, site):
    with Partner(server.url) as partner:
        page = web.page()
        page.goto(partner.url + "/embed.html")
        page.frame_locator("iframe").get_by_role("link").first.wait_for()
        page.keyboard.press("Tab")  # into the frame: its first link, the heading's
        focused = page.frame_locator("iframe").locator(":focus")
        expect(focused).to_have_attribute("target", "_blank")
        expect(focused).to_contain_text("Allies of the")
