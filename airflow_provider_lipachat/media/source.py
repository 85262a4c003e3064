"""One media argument made sendable: a URL as given, or a storage path signed once per try; checked once.

The media operator, the template operator's header and the notifier all resolve their media here,
so signing, what is logged of it, and the preflight happen the same way for each.
"""

from __future__ import annotations

from dataclasses import dataclass

from airflow_provider_lipachat.limits import DEFAULT_MEDIA_URL_EXPIRY
from airflow_provider_lipachat.media.preflight import Log, preflight_if_enabled
from airflow_provider_lipachat.media.storage import MediaLink, media_link


@dataclass(frozen=True)
class MediaSource:
    """A rendered media argument and the settings that make it sendable.

    :param field: the argument's name, for errors and log lines (``media_url``, ``header_media_url``).
    :param value: the rendered value: an https URL, an ``ObjectStoragePath``, or a path's text.
    :param media_type: the type given, else inferred from the path or URL.
    :param filename: a document's name given, else the path's name for a document from storage.
    :param expiry: seconds a signed link stays valid (capped at seven days, with a warning).
    :param preflight: whether to check the link against WhatsApp's media rules before any send.
    """

    field: str
    value: object
    media_type: str | None = None
    filename: str | None = None
    expiry: int = DEFAULT_MEDIA_URL_EXPIRY
    preflight: bool | str = True

    def resolve(self, log: Log) -> MediaLink:
        """The link to send: a storage path is signed (its URL registered as a secret, only the path logged)."""
        link = media_link(self.value, self.field, self.media_type, self.filename, self.expiry, log=log)
        if link.expiry is not None:
            log.info("Signed a link to %s, valid %d s", link.shown, link.expiry)
        return link

    def check(self, url: str, media_type: str, log: Log) -> None:
        """The preflight of the link as the message normalised it: once per try, before any send, unless off."""
        preflight_if_enabled(self.preflight, url, media_type, self.field, log)
