"""In a real headless Chromium: a nurse presses "Logga in med SITHS" on Hemma's login page,
logs in at the region's identity provider (the test's own OpenID provider, served on another
loopback port), and comes back to Hemma signed in; the log says how."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from hemma.access import oidc
from hemma.app import create_app
from hemma.models import AuditEntry, Staff, WebSession
from tests.access.oidc_provider import CLIENT_ID, CLIENT_SECRET, running
from tests.live import serving
from tests.test_browser import ARTIFACTS, browser  # noqa: F401  (skips without Chromium)

pytestmark = pytest.mark.browser


def test_a_nurse_logs_in_with_siths_through_the_regions_login_service(settings, database,
                                                                     world, browser):  # noqa: F811
    ARTIFACTS.mkdir(exist_ok=True)
    with database.session() as s:
        s.get(Staff, world.staff["sara"]).hsa_id = "SE2321000222-0001"
    with running([]) as provider:
        settings.oidc_issuer = provider.issuer
        settings.oidc_client_id = CLIENT_ID
        settings.oidc_client_secret = CLIENT_SECRET
        oidc.forget_providers()
        with serving(create_app(settings, database)) as hemma:
            provider.client.redirect_uris.append(f"{hemma}/login/oidc/callback")
            page = browser.new_page(viewport={"width": 390, "height": 844})
            page.goto(f"{hemma}/home-ward")
            expect(page.get_by_role("heading", name="Logga in", exact=True)).to_be_visible()
            page.screenshot(path=ARTIFACTS / "login-siths.png", full_page=True)
            page.get_by_role("link", name="Logga in med SITHS").click()

            expect(page.get_by_role("heading", name="Regionens inloggning (test)")) \
                .to_be_visible()
            assert page.url.startswith(provider.issuer + "/authorize?")
            page.get_by_label("HSA-id").fill("SE2321000222-0001")
            page.get_by_role("button", name="Logga in").click()

            # Back in Hemma, signed in, on the page she first asked for.
            page.wait_for_url(f"{hemma}/home-ward")
            page.locator("button.menu-toggle").click()  # a phone: the menu folds away
            expect(page.locator("details.more > summary")).to_have_text("Sara Sköterska")
            page.screenshot(path=ARTIFACTS / "after-siths.png", full_page=True)
    with database.session() as s:
        (web,) = s.scalars(select(WebSession)).all()
        assert web.auth_method == "oidc"
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "auth.login")
                          .order_by(AuditEntry.seq.desc())).first()
        assert (entry.username, entry.outcome, entry.detail) == ("sara", "allowed", "oidc")
    oidc.forget_providers()
