"""The client side: ``harness submit``, ``harness verify --registry`` and live-run streaming.

The API token comes from an environment variable (``HARNESS_TOKEN`` unless told otherwise),
never from the command line, so it stays out of shell histories and process lists; it is
never printed.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import httpx

from harness.errors import HarnessError, InputError, VerificationError
from harness.evidence import check_bundle
from harness.server.store import pack_bundle

__all__ = [
    "Registry",
    "RegistryError",
    "SubmissionRefused",
    "registry_standing",
    "token_from_env",
]

TOKEN_ENV = "HARNESS_TOKEN"


class RegistryError(HarnessError):
    """The registry could not be reached, or refused the request (access, bad request)."""

    exit_code = 2


class SubmissionRefused(VerificationError):
    """The registry checked the bundle and refused it; the message says why."""


def token_from_env(name: str = TOKEN_ENV) -> str:
    token = os.environ.get(name, "").strip()
    if not token:
        raise InputError(
            f"no API token: set the environment variable {name} to your registry token"
        )
    return token


class Registry:
    """An HTTP client of one registry."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 120.0) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kw: Any) -> Any:
        try:
            response = self.http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise RegistryError(f"registry {self.url} unreachable: {exc}") from None
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail")
            except ValueError:
                detail = response.text[:300]
            raise RegistryError(
                f"registry {self.url} refused {method} {path} ({response.status_code}): {detail}"
            )
        return response.json()

    def submit(self, folder: Path, *, wait: float = 600.0, poll: float = 0.2) -> dict[str, Any]:
        """Upload an evidence folder and wait for intake's decision; SubmissionRefused if no."""
        check_bundle(folder)  # a folder that is not even complete is not worth uploading
        body = pack_bundle(folder)
        queued = self.request(
            "POST", "/api/submissions", content=body, headers={"Content-Type": "application/gzip"}
        )
        deadline = time.monotonic() + wait
        while True:
            state: dict[str, Any] = self.request("GET", f"/api/submissions/{queued['id']}")
            if state["status"] == "accepted":
                return state
            if state["status"] == "refused":
                raise SubmissionRefused(
                    f"the registry refused evidence folder {folder}: {state['reason']}"
                )
            if time.monotonic() > deadline:
                raise RegistryError(
                    f"submission {queued['id']} still {state['status']} after {wait:g} s"
                )
            time.sleep(poll)

    def certificate(self, cert_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", f"/api/certificates/{cert_id}")
        return result


def registry_standing(url: str, certificate: bytes, where: Path) -> str:
    """What the registry at ``url`` says of these certificate bytes: a line for a valid one;
    VerificationError for one revoked, expired or unknown there."""
    import hashlib

    cert_id = hashlib.sha256(certificate).hexdigest()
    with Registry(url) as registry:
        try:
            response = registry.http.get(f"/api/certificates/{cert_id}")
        except httpx.HTTPError as exc:
            raise RegistryError(f"registry {url} unreachable: {exc}") from None
    if response.status_code == 404:
        raise VerificationError(
            f"certificate {where} rejected: the registry {url} does not know it (id {cert_id})"
        )
    if response.status_code != 200:
        raise RegistryError(f"registry {url} answered {response.status_code} for {cert_id}")
    info = response.json()
    if info["status"] == "revoked":
        raise VerificationError(
            f"certificate {where} rejected: REVOKED by the registry {url} on "
            f"{info['revoked']}: {info['revoked_reason']}"
        )
    if info["status"] != "valid":
        raise VerificationError(
            f"certificate {where} rejected: the registry {url} lists it as {info['status']}"
        )
    return f"{url}: listed and not revoked (id {cert_id[:16]}...)"
