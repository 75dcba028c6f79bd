"""Texts about tenant profiles: their own values and the values in effect."""

from __future__ import annotations

from collections.abc import Iterable

from bot.fleet import TenantSetting, TenantView
from bot.telegram.render.common import code, deleted_note, done, esc, failed, setting_level, working
from storage.models import TenantProfile

# --- tenants ------------------------------------------------------------------------------------


def _tenant_setting(setting: TenantSetting) -> str:
    if setting.secret:
        own = (
            f"set · fingerprint {code(setting.fingerprint, 24)}"
            if setting.fingerprint
            else "not set"
        )
        return f"{code(setting.key)}: {own} · in effect: {setting_level(setting.effective_level)}"
    own = code(setting.value, 300) if setting.value else "not set"
    effective = (
        f"{code(setting.effective_value, 300)} ({setting_level(setting.effective_level)})"
        if setting.effective_value
        else setting_level(setting.effective_level)
    )
    return f"{code(setting.key)}: {own} · in effect: {effective}"


def tenant_view(view: TenantView) -> str:
    profile = view.profile
    live = view.live_agents
    lines = [
        f"<b>Tenant</b> {code(profile.tenant_id)} — {esc(profile.display_name)}",
        f"Live agents: {live}",
        "<i>KEY: the tenant's own value · in effect: the value used and the level it comes "
        "from. Secret values are never shown.</i>",
    ]
    lines.extend(_tenant_setting(setting) for setting in view.settings)
    return "\n".join(lines)


def tenant_line(view: TenantView) -> str:
    profile = view.profile
    own = [s.key for s in view.settings if s.value or s.fingerprint]
    settings = esc(", ".join(own), 1000) if own else "<i>fleet values only</i>"
    live = f"{view.live_agents} live agent{'s' if view.live_agents != 1 else ''}"
    return f"{code(profile.tenant_id)} — {esc(profile.display_name)} · {live} · {settings}"


def tenant_list_header(count: int) -> str:
    return f"<b>{count} tenant{'s' if count != 1 else ''}</b>"


def tenant_added(profile: TenantProfile) -> str:
    return done(
        f"Added tenant {code(profile.tenant_id)} ({esc(profile.display_name)}). "
        f"Set its values with /tenant set {esc(profile.tenant_id)} KEY=VALUE."
    )


def tenant_stored(tenant_id: str, keys: Iterable[str], deleted: bool | None) -> str:
    listed = ", ".join(code(key) for key in keys)
    text = done(f"Stored {listed} for tenant {code(tenant_id)}.")
    return text + deleted_note(deleted)


# --- /tenant's answers ----------------------------------------------------------------------

NOTHING_STORED = "Nothing was stored."
LOOKED_LIKE_A_HIDDEN_VALUE = (
    "That looked like a secret value, which only /tenant set takes (in a private "
    "chat with me); nothing was stored."
)
HIDDEN_VALUES_PRIVATE_ONLY = (
    "/tenant set with secret values (anything but plain KEY=VALUE settings) "
    "works only in a private chat with me; nothing was stored."
)
OTHERS_MAY_HAVE_SEEN = " Others in this chat may have seen it: rotate it."


def tenant_unset(key: str | None, tenant_id: str) -> str:
    return done(f"Unset {code(key)} of tenant {code(tenant_id)}.")


def no_tenants(header: str) -> str:
    return f"{header}\nAdd one with /tenant add ID [name]."


def tenant_still_has_agents(tenant_id: str, live_agents: int) -> str:
    return failed(
        f"Tenant {code(tenant_id)} still has {live_agents} live agent(s); "
        "deprovision them before removing the tenant "
        f"(/list tenant={esc(tenant_id)})."
    )


def tenant_target_label(tenant_id: str) -> str:
    """Plain text for the confirmation store ("Cancelled: nothing was done to …")."""
    return f"tenant {tenant_id}"


def tenant_remove_question(profile: TenantProfile) -> str:
    return (
        f"⚠️ <b>/tenant remove</b> {code(profile.tenant_id)} "
        f"({esc(profile.display_name)})?\n"
        "This deletes its profile and its stored secrets. New agents of this tenant then "
        "use the fleet values."
    )


def tenant_removing(tenant_id: str) -> str:
    return working(f"/tenant remove {code(tenant_id)}…")


def tenant_removed(tenant_id: str) -> str:
    return done(f"Removed tenant {code(tenant_id)}, with its stored secrets.")
