"""A new DXA answer for the local demo (`frakturkedjan demo-answer`): a sample bundle made
unique and posted to a running bot's intake, as the integration platform posts one.

The intake takes an answer in once per DiagnosticReport identifier and content (SPEC
section 3): the same bundle posted again is a 200 duplicate and makes no card. So the
bundle gets a fresh DiagnosticReport identifier, referral identifier, bundle id, entry
`fullUrl`s (and the references to them) and timestamp; the patient and the measurements
stay as the sample has them.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = ["SAMPLE", "DemoError", "fresh_answer", "post_answer"]

SAMPLE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "01_osteoporosis_named.json"
"""The default sample: an osteoporosis answer naming the demo physician Anna Berg."""

_RENAMED = ("DiagnosticReport", "ServiceRequest")  # whose identifier values get the suffix
_URN = "urn:uuid:"


class DemoError(Exception):
    """The answer could not be made or posted; the message says why, for the operator."""


def fresh_answer(body: bytes, *, now: datetime, suffix: str | None = None) -> bytes:
    """`body` (a FHIR bundle) with fresh identifiers: `-<suffix>` (default: 12 random hex
    digits) after every DiagnosticReport and ServiceRequest identifier value, a new bundle
    id, new `urn:uuid:` fullUrls with every reference to them, and `now` as timestamp."""
    try:
        bundle = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise DemoError(f"the sample is not JSON: {exc}") from None
    if not isinstance(bundle, dict) or not isinstance(bundle.get("entry"), list):
        raise DemoError("the sample is not a FHIR bundle with entries")
    tail = suffix or uuid.uuid4().hex[:12]
    urls: dict[str, str] = {}
    for entry in bundle["entry"]:
        if not isinstance(entry, dict):
            continue
        full_url = entry.get("fullUrl")
        if isinstance(full_url, str) and full_url.startswith(_URN):
            urls[full_url] = f"{_URN}{uuid.uuid4()}"
        resource = entry.get("resource")
        if isinstance(resource, dict) and resource.get("resourceType") in _RENAMED:
            for identifier in resource.get("identifier") or []:
                if isinstance(identifier, dict) and isinstance(identifier.get("value"), str):
                    identifier["value"] = f"{identifier['value']}-{tail}"
    bundle = _renamed(bundle, urls)
    bundle["id"] = str(uuid.uuid4())
    bundle["timestamp"] = now.isoformat(timespec="seconds")
    return json.dumps(bundle, ensure_ascii=False, indent=2).encode("utf-8")


def _renamed(value: Any, urls: dict[str, str]) -> Any:
    """`value` with every string that is a key of `urls` replaced by its value."""
    if isinstance(value, dict):
        return {key: _renamed(item, urls) for key, item in value.items()}
    if isinstance(value, list):
        return [_renamed(item, urls) for item in value]
    if isinstance(value, str):
        return urls.get(value, value)
    return value


def post_answer(url: str, *, token: str, body: bytes, timeout: float = 30) -> tuple[int, Any]:
    """POST `body` to `<url>/api/dxa-answers` with the intake token; the HTTP status and
    the JSON answer. `DemoError` when no bot answers there."""
    request = urllib.request.Request(  # noqa: S310 - the operator's own URL
        f"{url.rstrip('/')}/api/dxa-answers",
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status, text = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read()
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DemoError(
            f"no bot answers at {url} ({reason}): start it with `bash scripts/run-local.sh`"
        ) from None
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text.decode("utf-8", "replace")
