"""Webhooks: a JSON POST, signed with a shared secret, delivered by the job queue.

A notification is a durable job of kind ``webhook``: a failed POST (a connection error
or a 5xx) is tried again after the queue's backoff, up to :data:`ATTEMPTS` times; a 4xx
is the receiver refusing it, final. Delivery is at least once: a receiver dedupes on the
body's ``job_id`` and ``state``.

With a secret (the environment variable the sender's config names), the body is signed:
``X-Shipyard-Signature: sha256=HEX`` is the HMAC-SHA256 of the exact body bytes, so a
receiver holding the secret checks that the body came from this server, unchanged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from shipyard.errors import BackendUnavailable, InvalidInput

if TYPE_CHECKING:
    from shipyard.runtime import Runtime
    from shipyard.stores.jobs import Job

JOB_KIND = "webhook"
ATTEMPTS = 5
LEASE = timedelta(seconds=30)
TIMEOUT = 5.0  # seconds one POST may take
SIGNATURE_HEADER = "X-Shipyard-Signature"


def signature(body: bytes, secret: str) -> str:
    """The signature header's value for ``body``.

    >>> signature(b'{}', "s3cret")[:17]
    'sha256=adbde1ce40'
    """
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_json(url: str, body: Mapping[str, Any], *, secret_env: str | None = None) -> int:
    """One POST of ``body``; its HTTP status. InvalidInput when the receiver refuses it
    (4xx) or the secret is missing; BackendUnavailable when it cannot be reached or fails."""
    import httpx

    data = json.dumps(dict(body), default=str, sort_keys=True).encode()
    headers = {"Content-Type": "application/json"}
    if secret_env:
        secret = os.environ.get(secret_env)
        if not secret:
            raise InvalidInput(f"The webhook's secret variable {secret_env} is not set.")
        headers[SIGNATURE_HEADER] = signature(data, secret)
    try:
        answer = httpx.post(url, content=data, headers=headers, timeout=TIMEOUT)
    except httpx.HTTPError as exc:
        raise BackendUnavailable(f"The webhook {url} could not be reached: {exc}") from None
    if 400 <= answer.status_code < 500:
        raise InvalidInput(f"The webhook {url} refused it: HTTP {answer.status_code}.")
    if answer.status_code >= 500:
        raise BackendUnavailable(f"The webhook {url} failed: HTTP {answer.status_code}.")
    return answer.status_code


def notify(
    runtime: Runtime, url: str | None, body: Mapping[str, Any], config: Mapping[str, Any]
) -> None:
    """Queue ``body`` for ``url`` (nothing when None), signed with ``config``'s secret_env."""
    if not url:
        return
    payload = {"url": url, "body": dict(body), "secret_env": config.get("secret_env")}
    runtime.jobs.enqueue(JOB_KIND, payload, created_by="shipyard", max_attempts=ATTEMPTS)


def run_webhook(runtime: Runtime, job: Job) -> dict[str, Any]:
    """The job handler: one POST; raising leaves the retry to the queue."""
    payload = job.payload
    status = post_json(payload["url"], payload["body"], secret_env=payload.get("secret_env"))
    return {"status": status}
