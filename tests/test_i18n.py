"""Swedish first: every text in code and templates has a Swedish translation; English is
one click away."""

from __future__ import annotations

from hemma.i18n.catalogs import extract, load


def test_every_msgid_has_a_swedish_translation():
    sv = load("sv")
    missing = []
    for message in extract():
        if not message.id:
            continue
        translated = sv.get(message.id)
        strings = translated.string if translated else None
        if not translated or not (all(strings) if isinstance(strings, tuple) else strings):
            missing.append(message.id)
    assert not missing, f"run `hemma i18n update` and translate: {missing}"


def test_placeholders_survive_translation():
    import re

    for message in load("sv"):
        if not message.id or not message.string:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = set(re.findall(r"%\((\w+)\)s", ids[-1]))
        for s in strings:
            assert set(re.findall(r"%\((\w+)\)s", s)) <= wanted | {"num"}, message.id


def test_pages_are_swedish_by_default_and_english_on_request(client, world):
    page = client.get("/login")
    assert '<html lang="sv">' in page.text and "Logga in" in page.text
    r = client.get("/language/en?next=/login", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    page = client.get("/login")
    assert '<html lang="en">' in page.text and "Log in" in page.text
    # The language switch does not send anyone off-site.
    r = client.get("/language/sv?next=//evil.example", follow_redirects=False)
    assert r.headers["location"] == "/"


def test_api_messages_follow_accept_language(client, world):
    r = client.get("/api/v1/me", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert r.status_code == 401 and r.json()["detail"] == "Please log in"
    r = client.get("/api/v1/me")
    assert r.json()["detail"] == "Logga in"


def test_every_language_code_has_a_name():
    from hemma.i18n.labels import LANGUAGE_NAMES
    from hemma.models.patients import LANGUAGES

    assert set(LANGUAGES) == set(LANGUAGE_NAMES)


def test_template_texts_escape_percent_signs():
    """Jinja's new-style gettext always %-formats: a lone % in a template msgid breaks the
    page at render time."""
    import re

    for message in extract():
        if not message.id or not any("templates" in loc for loc, _ in message.locations):
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        for text in ids:
            assert "%" not in re.sub(r"%%|%\(\w+\)s", "", text), text
