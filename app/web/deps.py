"""Typed dependencies for what the app builds once (settings, the secret box, the shared
outbound client, the sessionmaker): handlers and services ask for these instead of reading
`request.app.state`, and tests build apps with other values through `create_app(...)`."""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.crypto import SecretBox
from app.providers.limits import TeamSlots
from app.settings import Settings


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_secret_box(request: Request) -> SecretBox:
    box: SecretBox = request.app.state.secret_box
    return box


def get_http_client(request: Request) -> httpx.AsyncClient:
    client: httpx.AsyncClient = request.app.state.http_client
    return client


def get_sessionmaker(request: Request) -> async_sessionmaker[AsyncSession]:
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    return sessionmaker


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SecretBoxDep = Annotated[SecretBox, Depends(get_secret_box)]
HttpClientDep = Annotated[httpx.AsyncClient, Depends(get_http_client)]
SessionmakerDep = Annotated[async_sessionmaker[AsyncSession], Depends(get_sessionmaker)]


def get_provider_slots(request: Request) -> TeamSlots:
    slots: TeamSlots = request.app.state.provider_slots
    return slots


ProviderSlotsDep = Annotated[TeamSlots, Depends(get_provider_slots)]
