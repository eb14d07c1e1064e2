"""Every setting of the service (SPEC §9), read once from the environment and `.env`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.providers.names import resolve_alias

# The names of app/providers/names.py, spelled out for type checkers (a test keeps them equal).
LLMProviderName = Literal[
    "openai",
    "anthropic",
    "gemini",
    "openrouter",
    "fireworks",
    "together_ai",
    "azure_openai",
    "openai_compatible",
]


class Settings(BaseSettings):
    """Service configuration; build one per process (or per test app) and inject it."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
    )

    app_env: Literal["development", "production"] = "development"
    database_url: str | None = None
    test_database_url: str | None = None
    data_dir: Path = Path(".data")
    encryption_keys: SecretStr | None = None
    max_request_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    # Where `llma serve` listens (its --host/--port win).
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    # Bulk item import (issue 15): bounded per line and per request, not by body size.
    import_max_line_bytes: int = Field(default=1024 * 1024, gt=0)
    import_max_lines: int = Field(default=5_000_000, gt=0)
    import_batch_size: int = Field(default=2000, gt=0, le=50_000)

    openai_base_url: str = "https://api.openai.com/v1"
    anthropic_base_url: str = "https://api.anthropic.com"
    gemini_base_url: str = "https://generativelanguage.googleapis.com"
    openrouter_base_url: str = "https://openrouter.ai/api/v1"
    fireworks_base_url: str = "https://api.fireworks.ai/inference/v1"
    together_base_url: str = "https://api.together.xyz/v1"

    provider_timeout_seconds: float = Field(default=10.0, gt=0)
    summary_timeout_seconds: float = Field(default=120.0, gt=0)
    default_llm_provider: LLMProviderName | None = None
    default_llm_api_key: SecretStr | None = None
    summary_model_openai: str = "gpt-4.1-mini"
    summary_model_anthropic: str = "claude-sonnet-4-5"
    summary_model_gemini: str = "gemini-2.5-flash"
    summary_model_openrouter: str = "openai/gpt-4.1-mini"
    summary_model_fireworks: str = "accounts/fireworks/models/llama-v3p3-70b-instruct"
    summary_model_together_ai: str = "meta-llama/Llama-3.3-70B-Instruct-Turbo"
    summary_model_azure_openai: str = "gpt-4.1-mini"
    summary_model_openai_compatible: str = "default"
    summary_cache_ttl_seconds: int = Field(default=3600, ge=0)
    summary_throttle_burst: int = Field(default=50, ge=1)
    summary_throttle_sustained: int = Field(default=200, ge=1)
    summary_throttle_daily: int = Field(default=500, ge=1)

    # Tenant fairness (issue 18): every provider call has a whole-call deadline and a size cap,
    # and one team may only have so many provider-calling requests in flight per process.
    provider_max_response_bytes: int = Field(default=8 * 1024 * 1024, gt=0)
    max_models: int = Field(default=2000, ge=1)
    provider_calls_per_team: int = Field(default=4, ge=1)
    provider_max_connections: int = Field(default=100, ge=1)

    # `llma serve` (uvicorn), per worker process.
    server_limit_concurrency: int = Field(default=512, ge=1)
    server_keep_alive_seconds: int = Field(default=5, ge=1)
    server_header_timeout_seconds: float = Field(default=10.0, gt=0)

    allow_private_provider_urls: bool = False
    # Pagination links (`next`/`previous`): built on PUBLIC_BASE_URL when set; otherwise on the
    # request's Host only when it is one of ALLOWED_HOSTS (comma-separated host names, `*` for
    # any, `.example.com` for a domain and its subdomains), else relative. See README.
    public_base_url: str | None = None
    allowed_hosts: str = "localhost,127.0.0.1,::1,testserver,test"
    trial_eval_limit: int = Field(default=100, ge=0)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    # Unset: `console` in development, `json` in production (see _default_log_format).
    log_format: Literal["json", "console"] = "console"

    # Experiments (app/experiments): the job-queue worker and its bounds.
    # Unset: on in development (`llma serve` runs one worker), off in production.
    experiment_worker_in_process: bool | None = None
    experiment_worker_concurrency: int = Field(default=16, ge=1)  # provider calls in flight
    experiment_team_concurrency: int = Field(default=8, ge=1)  # per team, per worker
    experiment_key_concurrency: int = Field(default=16, ge=1)  # per provider key, per worker
    experiment_lease_seconds: float = Field(default=30.0, gt=0)  # a silent job is taken back
    experiment_chunk_size: int = Field(default=10, ge=1, le=1000)  # items per queue job
    experiment_max_attempts: int = Field(default=4, ge=1, le=10)  # per provider call (429/5xx)
    experiment_max_backoff_seconds: float = Field(default=30.0, gt=0)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("default_llm_provider", mode="before")
    @classmethod
    def _provider_alias(cls, value: object) -> object:
        if value == "":
            return None
        return resolve_alias(value)

    @field_validator("database_url", "test_database_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("public_base_url", mode="before")
    @classmethod
    def _public_base_url(cls, value: object) -> object:
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            return value
        parsed = urlsplit(value.strip())
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError("must be an http(s) URL such as https://llma.example.com")
        if parsed.query or parsed.fragment:
            raise ValueError("must not have a query or fragment")
        return value.strip().rstrip("/")

    def host_is_allowed(self, host: str) -> bool:
        """Whether `host` (a Host header's name, without port) is one of ALLOWED_HOSTS."""
        host = host.lower().rstrip(".")
        for entry in self.allowed_hosts.split(","):
            pattern = entry.strip().lower().strip("[]")
            if pattern == "*" or pattern == host:
                return True
            if pattern.startswith(".") and (host == pattern[1:] or host.endswith(pattern)):
                return True
        return False

    @model_validator(mode="after")
    def _outbound_pool_outsizes_one_team(self) -> Settings:
        # One team at its cap must leave most of the shared outbound pool to the others.
        if self.provider_max_connections < 4 * self.provider_calls_per_team:
            raise ValueError(
                "PROVIDER_MAX_CONNECTIONS must be at least 4 x PROVIDER_CALLS_PER_TEAM"
            )
        return self

    @model_validator(mode="after")
    def _default_log_format(self) -> Settings:
        if "log_format" not in self.model_fields_set and self.is_production:
            self.log_format = "json"
        return self

    @property
    def is_production(self) -> bool:
        return self.app_env == "production"

    @property
    def runs_worker_in_process(self) -> bool:
        if self.experiment_worker_in_process is None:
            return not self.is_production
        return self.experiment_worker_in_process

    def summary_model_for(self, provider: str) -> str:
        value: str = getattr(self, f"summary_model_{provider}")
        return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, for entry points (CLI, uvicorn factory); apps receive them."""
    return Settings()
