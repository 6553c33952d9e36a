"""Settings: defaults, then `config.toml` in the data dir, then PODCAST_HOST_* variables; checked at start."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from urllib.parse import urlsplit

from podcast_host.limits import MIB
from podcast_host.tomlfile import Wording, read_toml

ENV_PREFIX = "PODCAST_HOST_"
# config.toml holds a few settings; a file past this is a mistake (or not a config file), refused unread.
CONFIG_FILE_LIMIT = MIB
# How long a process that finds the secret-key file empty waits for the process that created it.
SECRET_KEY_WAIT_S = 1.0


class ConfigError(Exception):
    """A setting is unknown or malformed; the message names it."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("./instance")
    database_url: str = ""
    storage_url: str = ""
    media_url: str | None = None
    queue_url: str | None = None
    public_url: str = "http://127.0.0.1:8000"
    secret_key: str = ""
    max_upload_mb: int = 2048
    max_duration_s: int = 21600
    websub_hubs: tuple[str, ...] = ()
    # Worker threads inside `serve` when no QUEUE_URL is set.
    workers: int = 1
    feed_max_age_s: int = 300
    # A processing job silent for this long is taken to be dead (worker killed) and is run again.
    job_stale_s: int = 180
    episodes_per_page: int = 20
    # Reverse proxies in front of the app that set X-Forwarded-For and -Proto; 0 believes no such header.
    trusted_proxies: int = 0
    # A MaxMind-format country database for analytics; unset, every country is "unknown".
    geoip_db: str | None = None
    # Seconds between two writes of the download counts a web process has buffered.
    analytics_flush_s: int = 5
    # Whether the media route counts downloads (off: only `analytics ingest` counts).
    count_downloads: bool = True
    # A subscriber's token used from more networks (/24, /48) than this in one UTC day is flagged as shared.
    share_alert: int = 10
    # Interface languages offered (the dashboard's choice, and the public pages' when a show's is among them).
    languages: tuple[str, ...] = ("en", "ar", "fr")
    # The instance's name and logo in the header of public pages (docs/deployment.md, "Branding").
    instance_name: str = "podcast-host"
    instance_logo_url: str | None = None
    # Whether URLs given to the server may reach private, loopback and link-local addresses
    # (docs/architecture.md, "Fetching other servers"); only for a closed network where every user is trusted.
    allow_private_urls: bool = False
    testing: bool = False
    extra: Mapping[str, object] = field(default_factory=dict)

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * MIB


_INT_FIELDS = {
    "max_upload_mb",
    "max_duration_s",
    "workers",
    "feed_max_age_s",
    "episodes_per_page",
    "job_stale_s",
    "analytics_flush_s",
    "share_alert",
}
_BOOL_FIELDS = {"count_downloads", "allow_private_urls"}
# Whole numbers for which 0 means something (none).
_COUNT_FIELDS = {"trusted_proxies"}
_KNOWN = {f.name for f in fields(Settings)} - {"extra", "testing"}


def load_settings(
    environ: Mapping[str, str] | None = None, overrides: Mapping[str, object] | None = None
) -> Settings:
    """Build and validate the settings; raise ConfigError with one clear sentence."""
    environ = os.environ if environ is None else environ
    raw: dict[str, object] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        key = name[len(ENV_PREFIX) :].lower()
        if key not in _KNOWN:
            raise ConfigError(f"Unknown setting {name}; see the configuration table in README.md.")
        raw[key] = value
    if overrides:
        raw.update(overrides)
    data_dir = Path(str(raw.get("data_dir") or Settings.data_dir)).expanduser().resolve()
    file_values = _read_config_file(data_dir)
    merged = {**file_values, **raw, "data_dir": data_dir}
    return _finish(_coerce(merged))


_CONFIG_WORDING = Wording(
    too_big="{name} in the data dir is larger than {size}.",
    not_toml="{name} in the data dir is not valid TOML: {reason}",
    unknown_key="Unknown setting {key!r} in {name}.",
)


def _read_config_file(data_dir: Path) -> dict[str, object]:
    path = data_dir / "config.toml"
    if not path.exists():
        return {}
    return read_toml(path, _KNOWN, CONFIG_FILE_LIMIT, ConfigError, _CONFIG_WORDING)


def _coerce(values: dict[str, object]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in values.items():
        env_name = ENV_PREFIX + key.upper()
        if key in _INT_FIELDS | _COUNT_FIELDS:
            try:
                number = int(str(value).strip())
            except ValueError:
                raise ConfigError(f"{env_name} must be a whole number, not {value!r}.") from None
            if key in _INT_FIELDS and number <= 0:
                raise ConfigError(f"{env_name} must be positive, not {number}.")
            if number < 0:
                raise ConfigError(f"{env_name} must be 0 or more, not {number}.")
            out[key] = number
        elif key in ("websub_hubs", "languages"):
            items = value if isinstance(value, list | tuple) else str(value).split(",")
            out[key] = tuple(str(h).strip() for h in items if str(h).strip())
        elif key == "testing":
            out[key] = bool(value)
        elif key in _BOOL_FIELDS:
            out[key] = _boolean(env_name, value)
        elif isinstance(value, Path):
            out[key] = value
        elif value is not None and str(value).strip():
            out[key] = str(value).strip()
        elif key == "public_url" and value is not None:
            # Every link of the feeds and pages starts with it: a variable left empty by mistake must not
            # publish the local default.
            raise ConfigError(f"{env_name} is empty: set it to the address listeners use, or leave it unset.")
        # Any other empty text (or None) is no value: the setting keeps its default.
    return out


def _boolean(name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, not {value!r}.")


def _finish(values: dict[str, object]) -> Settings:
    settings = Settings(**values)  # type: ignore[arg-type]  # _coerce gave each value its field's type
    data_dir = settings.data_dir
    if not settings.database_url:
        settings = replace(settings, database_url=f"sqlite:///{data_dir / 'podcast-host.sqlite3'}")
    if not settings.storage_url:
        settings = replace(settings, storage_url=(data_dir / "media").as_uri())
    public_url = settings.public_url.rstrip("/")
    _check_http_url("PODCAST_HOST_PUBLIC_URL", public_url)
    settings = replace(settings, public_url=public_url)
    if settings.media_url:
        _check_http_url("PODCAST_HOST_MEDIA_URL", settings.media_url)
        settings = replace(settings, media_url=settings.media_url.rstrip("/"))
    for hub in settings.websub_hubs:
        _check_http_url("PODCAST_HOST_WEBSUB_HUBS", hub)
    _check_languages(settings.languages)
    if settings.instance_logo_url:
        _check_http_url("PODCAST_HOST_INSTANCE_LOGO_URL", settings.instance_logo_url)
    if settings.queue_url and urlsplit(settings.queue_url).scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(f"PODCAST_HOST_QUEUE_URL must be a redis:// URL, not {settings.queue_url!r}.")
    _check_database_url(settings.database_url)
    return settings


# The interface languages the project carries catalogs for (podcast_host/translations).
INTERFACE_LANGUAGES = ("en", "ar", "fr")


def _check_languages(languages: tuple[str, ...]) -> None:
    unknown = [code for code in languages if code not in INTERFACE_LANGUAGES]
    if unknown or not languages:
        raise ConfigError(
            f"PODCAST_HOST_LANGUAGES must list some of {', '.join(INTERFACE_LANGUAGES)}, "
            f"not {','.join(languages)!r}."
        )


def _check_http_url(name: str, url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{name} must be an absolute http(s) URL, not {url!r}.")


def _check_database_url(url: str) -> None:
    scheme = urlsplit(url).scheme.split("+")[0]
    if scheme not in ("sqlite", "postgresql"):
        raise ConfigError(f"PODCAST_HOST_DATABASE_URL must be a sqlite:// or postgresql:// URL, not {url!r}.")


def ensure_secret_key(settings: Settings) -> Settings:
    """Use the configured secret, or generate one once into the data dir."""
    if settings.secret_key:
        return settings
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = settings.data_dir / "secret_key"
    try:
        # Created owner-only from the first byte, and by one process only: others starting at the same
        # moment (web processes, workers) read the key this one writes instead of writing their own.
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return replace(settings, secret_key=_read_secret_key(path))
    key = secrets.token_urlsafe(48)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(key)
    except BaseException:
        path.unlink(missing_ok=True)  # an empty key file would stop every later start
        raise
    return replace(settings, secret_key=key)


def _read_secret_key(path: Path) -> str:
    """The key in `path`, waiting a moment for a process that has just created the file to write it."""
    deadline = time.monotonic() + SECRET_KEY_WAIT_S
    while not (key := path.read_text(encoding="utf-8").strip()):
        if time.monotonic() > deadline:
            raise ConfigError(
                f"{path.name} in the data dir is empty: delete it to have a new key made "
                "(signed-in sessions then end), or set PODCAST_HOST_SECRET_KEY."
            )
        time.sleep(0.02)
    return key
