"""Roles come from the identity provider's groups claim, and only from there."""

from __future__ import annotations

import pytest

from assetmap import roles
from assetmap.settings import settings


@pytest.mark.parametrize(("claims", "role"), [
    (None, "public"),
    ({}, "public"),
    ({"sub": "someone", "email": "a@b"}, "public"),
    ({"groups": ["staff", "partner"]}, "partner"),
    ({"groups": "staff, partner"}, "partner"),  # one string, separated by commas
    ({"groups": "staff partner"}, "partner"),  # or spaces
    ({"groups": ["partner", "moderator"]}, "moderator"),
    ({"groups": ["moderator"]}, "moderator"),
    ({"groups": ["Partner"]}, "public"),  # names are exact
    ({"groups": ["partner:elsewhere"]}, "public"),
    ({"roles": ["partner"]}, "public"),  # another claim than the one configured
    ({"groups": 42}, "public"),
])
def test_the_role_of_a_user_is_read_from_the_groups_claim(claims, role):
    assert roles.role_from_claims(claims) == role


def test_the_claim_and_the_groups_are_configuration(monkeypatch):
    monkeypatch.setattr(settings, "roles_claim", "roles")
    monkeypatch.setattr(settings, "partner_groups", ("west-midlands-smp",))
    monkeypatch.setattr(settings, "moderator_groups", ("smp-moderators",))
    assert roles.role_from_claims({"roles": ["west-midlands-smp"]}) == "partner"
    assert roles.role_from_claims({"roles": ["smp-moderators"]}) == "moderator"
    assert roles.role_from_claims({"groups": ["partner"]}) == "public"


def test_each_role_sees_what_the_one_before_it_sees_and_reads_its_variant():
    assert roles.at_least("moderator", "partner") and roles.at_least("partner", "public")
    assert not roles.at_least("public", "partner") and not roles.at_least("partner", "moderator")
    assert [roles.snapshot_variant(r) for r in roles.ROLES] == ["public", "partner", "partner"]


def test_logins_are_on_when_an_identity_provider_is_named(monkeypatch):
    assert not settings.login_enabled
    monkeypatch.setitem(settings.oidc, "metadata_url", "http://127.0.0.1:1/.well-known/openid-configuration")
    assert settings.login_enabled


def test_the_writer_limit_is_named_after_the_store(monkeypatch, tmp_path):
    a, b = settings.writer_limit(tmp_path / "a.duckdb"), settings.writer_limit(tmp_path / "b" / "a.duckdb")
    assert a.startswith("assetmap-writer:a-") and a != b  # two stores, two limits
    assert settings.writer_limit(tmp_path / "x" / ".." / "a.duckdb") == a  # one store, one limit
    monkeypatch.setattr(settings, "store_name", "cardiff")
    assert settings.writer_limit(tmp_path / "a.duckdb") == "assetmap-writer:cardiff"
