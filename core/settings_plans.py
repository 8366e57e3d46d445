"""The plans' limits (issue 27; pipeline/plans.py, docs/plans.md): a block of the one settings
object, :class:`core.settings.Settings`, which inherits it through
:class:`core.settings_operations.OperationsSettings` (read from the environment with the same
``INTAJ_`` prefix).

``profiles.subscription`` names an owner's plan (free, pro or business). Each limit is a
number, or null for no limit. ``INTAJ_PLANS`` overrides some of them per deployment, as JSON
(``{"free": {"messages_per_month": 500}}``): what it does not name keeps the default below."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

MB = 1024 * 1024


class PlanLimits(BaseModel):
    """One plan's limits; None: no limit."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    chatbots: int | None = Field(default=None, ge=0)  # per owner
    sources_per_chatbot: int | None = Field(default=None, ge=0)
    bytes_per_chatbot: int | None = Field(default=None, ge=0)  # the sizes of its stored files
    file_bytes: int | None = Field(default=None, ge=0)  # the largest file
    messages_per_month: int | None = Field(default=None, ge=0)  # per owner, calendar month (UTC)
    widgets: int | None = Field(default=None, ge=0)  # per owner
    whatsapp_connections: int | None = Field(default=None, ge=0)  # per owner


DEFAULT_PLANS: dict[str, PlanLimits] = {
    "free": PlanLimits(
        chatbots=1, sources_per_chatbot=20, bytes_per_chatbot=50 * MB, file_bytes=10 * MB,
        messages_per_month=500, widgets=1, whatsapp_connections=1,
    ),
    "pro": PlanLimits(
        chatbots=5, sources_per_chatbot=500, bytes_per_chatbot=1024 * MB, file_bytes=50 * MB,
        messages_per_month=10_000, widgets=5, whatsapp_connections=2,
    ),
    "business": PlanLimits(
        chatbots=50, sources_per_chatbot=5_000, bytes_per_chatbot=20 * 1024 * MB,
        file_bytes=200 * MB, messages_per_month=200_000, widgets=50, whatsapp_connections=20,
    ),
}  # fmt: skip
PLAN_NAMES = tuple(DEFAULT_PLANS)


class PlansSettings(BaseModel):
    # The limits of each plan (defaults above; INTAJ_PLANS overrides any of them, as JSON).
    plans: dict[str, PlanLimits] = Field(default_factory=lambda: dict(DEFAULT_PLANS))
    # The plan of the local profile (the CLI's own user, local@intaj.localhost): unset, it is
    # the deployment's operator and no limit applies to it; free/pro/business: that plan's.
    local_plan: str | None = None

    @field_validator("plans", mode="before")
    @classmethod
    def _over_defaults(cls, value: Any) -> Any:
        """A partial override keeps every limit it does not name."""
        if not isinstance(value, dict):
            return value
        merged: dict[str, Any] = {k: v.model_dump() for k, v in DEFAULT_PLANS.items()}
        for name, limits in value.items():
            given = limits.model_dump() if isinstance(limits, PlanLimits) else limits
            merged[name] = {**merged.get(name, {}), **dict(given)} if given is not None else {}
        return merged

    @field_validator("local_plan")
    @classmethod
    def _known_plan(cls, value: str | None) -> str | None:
        if value is not None and value not in PLAN_NAMES:
            raise ValueError(f"INTAJ_LOCAL_PLAN must be one of {', '.join(PLAN_NAMES)}")
        return value
