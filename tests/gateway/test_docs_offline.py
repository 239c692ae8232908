"""/docs and /redoc load their scripts from a CDN: where it cannot be reached the page says so and points at
/openapi.json (it stayed blank, without a word)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
from fastapi.testclient import TestClient

from gateway.docs import GLOBALS

PAGES = {"/docs": GLOBALS["docs"], "/redoc": GLOBALS["redoc"]}


def _check_script(html: str) -> str:
    """The inline script that checks the CDN's global, which must run after the CDN's script tag."""
    scripts = re.findall(r"<script( src=\"[^\"]+\")?>(.*?)</script>", html, flags=re.S)
    cdn = next(i for i, (src, _) in enumerate(scripts) if "cdn.jsdelivr.net" in src)
    checks = [body for src, body in scripts[cdn + 1 :] if not src and "=== 'undefined'" in body]
    assert len(checks) == 1, scripts
    return str(checks[0])


@pytest.mark.parametrize("path", sorted(PAGES))
def test_each_docs_page_checks_its_cdn_script_loaded_before_its_body_ends(client: TestClient, path: str) -> None:
    html = client.get(path).text
    script = _check_script(html)
    assert f"typeof {PAGES[path]} === 'undefined'" in script
    assert html.index(script) < html.index("</body>")
    assert '<a href="/openapi.json">' in json.loads(script[script.index('"') : script.rindex('"') + 1])


@pytest.mark.parametrize("path", sorted(PAGES))
def test_a_page_whose_cdn_script_did_not_load_shows_the_note_and_one_that_loaded_does_not(
    client: TestClient, path: str
) -> None:
    """The page's check run by a JavaScript engine against a stand-in document: the note is inserted only where
    the global the CDN script defines is missing."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("no JavaScript engine (node) on this machine: the script's text is checked above")
    script = _check_script(client.get(path).text)

    def inserted(prelude: str) -> list[list[str]]:
        """What the check inserts into a stand-in document, after `prelude` (JavaScript) has run."""
        program = (
            "const inserted = [];"
            "globalThis.document = {body: {insertAdjacentHTML: (where, html) => inserted.push([where, html])}};"
            f"{prelude}{script};console.log(JSON.stringify(inserted));"
        )
        found: list[list[str]] = json.loads(
            subprocess.run([node, "-e", program], capture_output=True, check=True).stdout
        )
        return found

    [[where, note]] = inserted("")  # the CDN's script did not load: its global is missing
    assert where == "afterbegin" and "could not reach" in note and "/openapi.json" in note
    assert inserted(f"globalThis.{PAGES[path]} = function () {{}};") == []
