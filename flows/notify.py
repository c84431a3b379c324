"""Reminders through apprise (chat, webhooks, push...), routed by the owners' tags.

The URLs carry secrets, so they never live in the rule files: they come from the
environment only, as an apprise configuration whose URLs are tagged.

- ``DULY_APPRISE_CONFIG``: the path of an apprise configuration file, TEXT
  (``litigation,directors=json://host/hook``) or YAML (``urls:`` with ``tag:``).
- ``DULY_APPRISE_URLS``: the same TEXT configuration given inline.

An owner in ``rules/owners.yaml`` has ``tags``; a message for that owner goes to
every URL carrying any one of them (apprise's own matching: a list of tags is an
OR, and a URL tagged ``always`` receives everything). A service that reads HTML
gets the HTML variant, any other the plain text, each as apprise's
``body_format`` says, so apprise converts nothing it need not.

Nothing here logs or raises with a URL in it: the configuration is parsed with
apprise's logger held quiet (it logs raw configuration lines at debug level),
and what is said about a URL uses ``url(privacy=True)``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from apprise import Apprise, AppriseAsset, NotifyFormat
from apprise.config.memory import ConfigMemory
from apprise.plugins.base import NotifyBase

from flows.outbox import ChannelError

__all__ = ["AppriseChannel"]

log = logging.getLogger(__name__)

CONFIG_ENV = "DULY_APPRISE_CONFIG"
URLS_ENV = "DULY_APPRISE_URLS"


@contextmanager
def _quiet_apprise() -> Iterator[None]:
    """Keep apprise's logger silent while it reads configuration holding secrets."""
    logger = logging.getLogger("apprise")
    disabled = logger.disabled
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = disabled


def _servers(content: str, *, origin: str, format: str | None = None) -> list[NotifyBase]:
    """The services an apprise configuration text defines (TEXT or YAML, detected)."""
    asset = AppriseAsset(secure_logging=True)
    with _quiet_apprise():
        config = ConfigMemory(content=content, format=format, asset=asset)  # type: ignore[no-untyped-call]
        if config.config_format is None:
            raise ChannelError(
                f"{origin} is not an apprise configuration (TEXT or YAML)", permanent=True
            )
        servers = list(config.servers())
    if not servers:
        raise ChannelError(f"{origin} defines no usable apprise URL", permanent=True)
    return servers


class AppriseChannel:
    """Sends a rendered message to the apprise URLs tagged like its recipient."""

    name = "apprise"

    def __init__(self, servers: Iterable[NotifyBase]):
        self._apprise = Apprise(asset=AppriseAsset(secure_logging=True))
        for server in servers:
            self._apprise.add(server)

    @classmethod
    def from_text(
        cls, content: str, *, origin: str = "the apprise configuration"
    ) -> AppriseChannel:
        """A channel from configuration text (TEXT or YAML)."""
        return cls(_servers(content, origin=origin))

    @classmethod
    def from_env(cls) -> AppriseChannel | None:
        """The channel the environment configures, or None when it configures none.

        Raises :class:`ChannelError` (permanent) when a configuration is given but
        cannot be read or defines no usable URL; the message names the variable,
        never its content.
        """
        servers: list[NotifyBase] = []
        path = os.environ.get(CONFIG_ENV, "").strip()
        if path:
            try:
                content = Path(path).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
                raise ChannelError(
                    f"cannot read the file named by {CONFIG_ENV}: {reason}", permanent=True
                ) from None
            suffix = Path(path).suffix.lower()
            format = "yaml" if suffix in (".yaml", ".yml") else None
            servers += _servers(content, origin=f"the file named by {CONFIG_ENV}", format=format)
        inline = os.environ.get(URLS_ENV, "").strip()
        if inline:
            servers += _servers(inline, origin=URLS_ENV, format="text")
        return cls(servers) if servers else None

    def __len__(self) -> int:
        return len(self._apprise)

    def describe(self) -> str:
        """Where messages go, for people: the services, with their secrets hidden."""
        hidden = (server.url(privacy=True) for server in self._matching(None))  # type: ignore[no-untyped-call]
        return ", ".join(hidden)

    def _matching(self, tags: Iterable[str] | None) -> list[NotifyBase]:
        if tags is None:
            return list(self._apprise.find())
        wanted = sorted({t for t in tags if t})
        if not wanted:
            return []
        return list(self._apprise.find(tag=wanted))

    def routes(self, tags: Iterable[str]) -> int:
        """How many URLs a message for an owner with these tags would go to."""
        return len(self._matching(tags))

    def notify(
        self, *, title: str, body: str, html: str | None, tags: Iterable[str], key: str
    ) -> None:
        """Send one message to every URL matching ``tags``.

        Raises :class:`ChannelError`: permanent when no URL matches the tags (a
        retry cannot help), transient when a service refused or could not be
        reached. ``key`` (the delivery key) only names the message in logs.
        """
        wanted = sorted({t for t in tags if t})
        servers = self._matching(wanted)
        if not servers:
            raise ChannelError(
                f"no apprise URL is tagged {' or '.join(wanted) or '(no tags)'}",
                permanent=True,
            )
        as_html = [s for s in servers if html is not None and s.notify_format == NotifyFormat.HTML]
        as_text = [s for s in servers if s not in as_html]
        failed = 0
        for group, content, body_format in (
            (as_text, body, NotifyFormat.TEXT),
            (as_html, html, NotifyFormat.HTML),
        ):
            if not group or content is None:
                continue
            batch = Apprise(asset=self._apprise.asset)
            for server in group:
                batch.add(server)
            ok = batch.notify(body=content, title=title, body_format=body_format, tag=wanted)
            if not ok:
                failed += 1
                log.warning(
                    "apprise: %s not delivered by %s",
                    key,
                    ", ".join(server.url(privacy=True) for server in group),  # type: ignore[no-untyped-call]
                )
        if failed:
            raise ChannelError(f"apprise: a service did not accept {key}", permanent=False)
        log.info("apprise: %s sent to %d URL(s)", key, len(servers))
