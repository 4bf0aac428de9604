"""Who may see what: the roles of the dashboard's users, from their identity provider's claims.

Three roles, each seeing all the one before it does:

- ``public``: no login. Sensitive sites (refugee support venues, women-only spaces) only as
  counts per ward; reads the public snapshot, which holds nothing more.
- ``partner``: exact locations, addresses and contacts of sensitive sites; reads the partner
  snapshot.
- ``moderator``: also approves and rejects community submissions.

With an identity provider (``settings.login_enabled``) the role comes from the signed-in user's
groups claim (``settings.roles_claim``) and nothing else: not the URL, not a widget. Without
one (a single-user install), ``ASSETMAP_MODE`` says public or partner, and the moderators'
shared secret opens moderation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from assetmap.settings import settings

PUBLIC, PARTNER, MODERATOR = "public", "partner", "moderator"
ROLES = (PUBLIC, PARTNER, MODERATOR)
_RANK = {r: i for i, r in enumerate(ROLES)}


def groups_of(claims: Mapping[str, Any] | None, claim: str | None = None) -> frozenset[str]:
    """Return the groups a user's claims name under ``claim``.

    A list, or one string of names separated by commas or spaces (identity providers do both).
    """
    if not claims:
        return frozenset()
    value = claims.get(claim or settings.roles_claim)
    if value is None:
        return frozenset()
    items: Iterable[Any] = re.split(r"[,\s]+", value) if isinstance(value, str) else (
        value if isinstance(value, list | tuple | set | frozenset) else [value])
    return frozenset(str(v).strip() for v in items if str(v).strip())


def role_from_claims(claims: Mapping[str, Any] | None, claim: str | None = None,
                     partner_groups: Iterable[str] | None = None,
                     moderator_groups: Iterable[str] | None = None) -> str:
    """Return the role of a user with these identity-token claims (``None``: not signed in -> public)."""
    groups = groups_of(claims, claim)
    if groups & set(settings.moderator_groups if moderator_groups is None else moderator_groups):
        return MODERATOR
    if groups & set(settings.partner_groups if partner_groups is None else partner_groups):
        return PARTNER
    return PUBLIC


def at_least(role: str, wanted: str) -> bool:
    """Whether ``role`` may do what ``wanted`` may (a moderator is also a partner)."""
    return _RANK[role] >= _RANK[wanted]


def snapshot_variant(role: str) -> str:
    """Return the snapshot variant a user of ``role`` reads."""
    return "public" if role == PUBLIC else "partner"
