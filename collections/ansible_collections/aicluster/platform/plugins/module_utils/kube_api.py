"""A small client for the Kubernetes API: raw requests, per-group discovery, server-side apply."""

from __future__ import annotations

import json
import time
from typing import Any

# Errors that mean "not yet": the API server, a webhook or a new CRD's API is still coming up.
TRANSIENT_STATUSES = frozenset({0, 429, 500, 502, 503, 504})


class KubeError(Exception):
    """An API request failed; carries the HTTP status and the server's message."""

    def __init__(self, status: int, message: str, reason: str = "") -> None:
        super().__init__(f"HTTP {status}: {message}" if status else message)
        self.status = status
        self.message = message
        self.reason = reason

    @property
    def transient(self) -> bool:
        return self.status in TRANSIENT_STATUSES or "failed calling webhook" in self.message


class UnknownKind(KubeError):
    """The API server does not (yet) serve this kind, e.g. right after its CRD was created."""


class KubeClient:
    """Requests against one cluster, with the credentials of a kubeconfig file."""

    def __init__(self, kubeconfig: str) -> None:
        # Imported here so that a module's argument errors need no client library.
        from kubernetes import config

        self._api = config.new_client_from_config(config_file=kubeconfig)
        self._resources: dict[str, dict[str, dict[str, Any]]] = {}

    def request(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str | None = None,
    ) -> Any:
        from kubernetes.client.exceptions import ApiException

        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        method, url, headers, body, _ = self._api.param_serialize(
            method=method,
            resource_path=path,
            query_params=query or [],
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        try:
            response = self._api.call_api(method, url, header_params=headers, body=body, _request_timeout=30)
            response.read()
        except ApiException as error:
            raise KubeError(error.status or 0, str(error.reason or error)) from error
        except OSError as error:  # connection refused, reset, timeouts
            raise KubeError(0, f"cannot reach the API server: {error}") from error
        try:
            data = json.loads(response.data) if response.data else None
        except ValueError:
            # Plain-text answers, such as "404 page not found" for a group the server does not serve.
            if 200 <= response.status <= 299:
                raise
            data = None
        if not 200 <= response.status <= 299:
            message = data.get("message", "") if isinstance(data, dict) else str(response.data[:300])
            reason = data.get("reason", "") if isinstance(data, dict) else ""
            raise KubeError(response.status, message, reason)
        return data

    def resource(self, api_version: str, kind: str, refresh: bool = False) -> dict[str, Any]:
        """The discovery entry (name, namespaced) of a kind, fetched once per group version."""
        if refresh or api_version not in self._resources:
            prefix = "/api/" if "/" not in api_version else "/apis/"
            try:
                listing = self.request("GET", prefix + api_version)
            except KubeError as error:
                if error.status == 404:
                    raise UnknownKind(404, f"the API server does not serve {api_version}") from error
                raise
            self._resources[api_version] = {
                entry["kind"]: entry for entry in listing.get("resources", []) if "/" not in entry["name"]
            }
        entry = self._resources[api_version].get(kind)
        if entry is None:
            if not refresh:
                return self.resource(api_version, kind, refresh=True)
            raise UnknownKind(404, f"the API server does not serve {kind} in {api_version}")
        return entry

    def path(self, api_version: str, kind: str, namespace: str | None, name: str | None = None) -> str:
        entry = self.resource(api_version, kind)
        prefix = "/api/" if "/" not in api_version else "/apis/"
        path = prefix + api_version
        if entry["namespaced"]:
            if not namespace:
                raise KubeError(0, f"{kind} {name} is namespaced but names no namespace")
            path += f"/namespaces/{namespace}"
        path += "/" + entry["name"]
        return path + (f"/{name}" if name else "")

    def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        try:
            return self.request("GET", self.path(api_version, kind, namespace, name))
        except KubeError as error:
            if error.status == 404 and not isinstance(error, UnknownKind):
                return None
            raise

    def apply(self, manifest: dict[str, Any], field_manager: str, dry_run: bool) -> dict[str, Any]:
        metadata = manifest["metadata"]
        query = [("fieldManager", field_manager), ("force", "true")]
        if dry_run:
            query.append(("dryRun", "All"))
        path = self.path(
            manifest["apiVersion"], manifest["kind"], metadata.get("namespace"), metadata["name"]
        )
        return self.request("PATCH", path, query, manifest, "application/apply-patch+yaml")

    def ensure(self, manifest: dict[str, Any], field_manager: str, dry_run: bool = False) -> str:
        """Server-side applies an object: created, configured or unchanged (only a change of its
        content counts: others keep updating status and may take over fields without changing them)."""
        metadata = manifest["metadata"]
        key = (manifest["apiVersion"], manifest["kind"], metadata.get("namespace"), metadata["name"])
        before = self.get(*key)
        if before is None:
            self.apply(manifest, field_manager, dry_run)
            return "created"
        if content(self.apply(manifest, field_manager, dry_run=True)) == content(before):
            return "unchanged"
        if not dry_run:
            self.apply(manifest, field_manager, dry_run=False)
        return "configured"

    def delete(self, api_version: str, kind: str, namespace: str | None, name: str, dry_run: bool) -> bool:
        """Deletes an object; False when it did not exist."""
        # The API server reads DeleteOptions from the body when there is one and then ignores
        # the query string, so dryRun must be in the body or the "dry run" deletes for real.
        options: dict[str, Any] = {"propagationPolicy": "Background"}
        if dry_run:
            options["dryRun"] = ["All"]
        try:
            self.request(
                "DELETE",
                self.path(api_version, kind, namespace, name),
                None,
                options,
                "application/json",
            )
        except KubeError as error:
            if error.status == 404 and not isinstance(error, UnknownKind):
                return False
            raise
        return True

    def list(self, api_version: str, kind: str, label_selector: str) -> list[dict[str, Any]]:
        entry = self.resource(api_version, kind)
        prefix = "/api/" if "/" not in api_version else "/apis/"
        listing = self.request(
            "GET", f"{prefix}{api_version}/{entry['name']}", [("labelSelector", label_selector)]
        )
        return listing.get("items", [])


def content(obj: dict[str, Any]) -> dict[str, Any]:
    """An object without what the API server maintains: status and bookkeeping metadata."""
    metadata = {key: value for key, value in obj.get("metadata", {}).items()
                if key not in ("managedFields", "resourceVersion", "generation", "creationTimestamp", "uid")}
    return {**{key: value for key, value in obj.items() if key != "status"}, "metadata": metadata}


def retrying(action: Any, timeout: float, interval: float = 0.5, max_interval: float = 4.0) -> Any:
    """Runs action until it succeeds or fails with a lasting error, or until timeout; the wait between
    attempts doubles up to max_interval, so a webhook that takes long to start is not hammered."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return action()
        except KubeError as error:
            remaining = deadline - time.monotonic()
            if not (error.transient or isinstance(error, UnknownKind)) or remaining <= 0:
                raise
        time.sleep(min(interval, remaining))
        interval = min(interval * 2, max_interval)


def condition_status(obj: dict[str, Any] | None, condition: str) -> tuple[str, str]:
    """The status and message of a named condition of an object ('' when absent)."""
    for entry in ((obj or {}).get("status") or {}).get("conditions") or []:
        if entry.get("type") == condition:
            return str(entry.get("status", "")), str(entry.get("message", ""))
    return "", ""
