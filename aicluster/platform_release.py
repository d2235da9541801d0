"""Real-cluster delivery of the platform: renders a pinned module's Helm chart (with `helm template`,
offline) or release manifests, pins every image by digest from the bill of materials, refuses
images without a digest unless explicitly allowed, and validates objects offline where the cluster
serves no API for them yet.

The roles reach this through the `aicluster.platform.release_render` module (roles/platform_release).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from aicluster.bom import Bom
from aicluster.errors import AiclusterError

DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
# Kinds applied first, so that what depends on them can be applied right after.
FIRST_KINDS = ("CustomResourceDefinition", "Namespace")
# Kinds of the cluster scope among those that releases ship (the rest are namespaced).
CLUSTER_SCOPED_KINDS = {
    "APIService", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "DeviceClass",
    "GatewayClass", "MutatingWebhookConfiguration", "Namespace", "PriorityClass", "RuntimeClass",
    "StorageClass", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
    "ValidatingWebhookConfiguration", "ClusterTrainingRuntime", "PersistentVolume",
}


class ReleaseError(AiclusterError):
    """A release cannot be rendered, or its objects break the image policy or their schema."""


@dataclass(frozen=True)
class Release:
    """What the bill of materials says of one release: its module and the chart or manifests in it."""

    name: str
    source: str
    module: str
    version: str
    chart: str | None = None
    manifests: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)


def release_of(bom: Bom, name: str) -> Release:
    entry = (bom.raw.get("releases") or {}).get(name)
    if entry is None:
        raise ReleaseError(f"bom.yaml has no release named {name!r} (releases: "
                           f"{', '.join(sorted(bom.raw.get('releases') or {}))})")
    source = bom.source(entry["source"])
    return Release(name=name, source=entry["source"], module=source.module, version=source.version,
                   chart=entry.get("chart"), manifests=list(entry.get("manifests") or []),
                   images=list(entry.get("images") or []))


def image_reference(bom: Bom, name: str) -> str:
    """`repository@sha256:…` when the bill of materials pins a digest, else `repository:tag`."""
    image = (bom.raw.get("images") or {}).get(name)
    if image is None:
        raise ReleaseError(f"bom.yaml has no image named {name!r}")
    if image.get("digest"):
        return f"{image['repository']}@{image['digest']}"
    return f"{image['repository']}:{image['tag']}"


def pinning(bom: Bom) -> dict[str, str]:
    """Tag references of the bill of materials' images, each mapped to its digest reference."""
    result = {}
    for image in (bom.raw.get("images") or {}).values():
        if image.get("digest"):
            result[f"{image['repository']}:{image['tag']}"] = f"{image['repository']}@{image['digest']}"
    return result


def _walk_strings(node: Any, change: Callable[[str, str | None], str], key: str | None = None) -> Any:
    if isinstance(node, dict):
        return {k: _walk_strings(v, change, k) for k, v in node.items()}
    if isinstance(node, list):
        return [_walk_strings(v, change, key) for v in node]
    if isinstance(node, str):
        return change(node, key)
    return node


def pin_images(documents: list[dict[str, Any]], pins: dict[str, str]) -> list[dict[str, Any]]:
    """Replaces every tag reference of a pinned image (images, and image references in arguments)."""
    def change(value: str, _key: str | None) -> str:
        for tagged, pinned in pins.items():
            if tagged in value:
                value = re.sub(re.escape(tagged) + r"(?![\w.-])", pinned, value)
        return value

    return [doc if doc.get("kind") == "CustomResourceDefinition" else _walk_strings(doc, change)
            for doc in documents]


def images_of(document: dict[str, Any]) -> list[str]:
    """Every string under an `image` key (containers of any pod template, operator CRs' spec.image)."""
    found: list[str] = []

    def change(value: str, key: str | None) -> str:
        if key == "image":
            found.append(value)
        return value

    if document.get("kind") != "CustomResourceDefinition":
        _walk_strings(document, change)
    return found


def unpinned_images(documents: list[dict[str, Any]], tagged_refs: Iterable[str] = ()) -> list[str]:
    """Images not referenced by digest, plus known tag references left in arguments."""
    unpinned = {image for doc in documents for image in images_of(doc) if not DIGEST.search(image)}
    text = json.dumps([doc for doc in documents if doc.get("kind") != "CustomResourceDefinition"])
    unpinned |= {ref for ref in tagged_refs if re.search(re.escape(ref) + r"(?![\w.@-])", text)}
    return sorted(unpinned)


def set_container_args(documents: list[dict[str, Any]],
                       overrides: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sets flags of containers of the release's workloads: each override names a kind, an object
    and a container, and maps flags (`--name`) to values; a flag present is replaced, one absent is
    appended. An override that matches no container is an error (the release changed under it)."""
    result = json.loads(json.dumps(documents))
    for override in overrides:
        matched = False
        for doc in result:
            if (doc.get("kind") != override["kind"]
                    or (doc.get("metadata") or {}).get("name") != override["name"]):
                continue
            pod = ((doc.get("spec") or {}).get("template") or {}).get("spec") or {}
            for container in pod.get("containers") or []:
                if container.get("name") != override["container"]:
                    continue
                matched = True
                args = list(container.get("args") or [])
                for flag, value in override["args"].items():
                    setting = f"{flag}={value}"
                    found = [i for i, arg in enumerate(args) if arg == flag or arg.startswith(flag + "=")]
                    if found:
                        args[found[0]] = setting
                    else:
                        args.append(setting)
                container["args"] = args
        if not matched:
            raise ReleaseError(f"no container {override['container']} in {override['kind']} "
                               f"{override['name']} to set {', '.join(override['args'])} on")
    return result


def ordered(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def rank(doc: dict[str, Any]) -> int:
        kind = doc.get("kind", "")
        return FIRST_KINDS.index(kind) if kind in FIRST_KINDS else len(FIRST_KINDS)

    return sorted(documents, key=rank)


def excluded(document: dict[str, Any], rules: list[dict[str, str]]) -> bool:
    name = (document.get("metadata") or {}).get("name")
    return any(rule.get("kind") == document.get("kind") and rule.get("name", name) == name
               for rule in rules)


def set_namespace(documents: list[dict[str, Any]], original: str, namespace: str) -> list[dict[str, Any]]:
    """Moves a manifest set from the namespace it was written for into `namespace`."""
    result = []
    for doc in documents:
        doc = json.loads(json.dumps(doc))
        metadata = doc.setdefault("metadata", {})
        if doc.get("kind") == "Namespace" and metadata.get("name") == original:
            metadata["name"] = namespace
        elif doc.get("kind") not in CLUSTER_SCOPED_KINDS and metadata.get("namespace", original) == original:
            metadata["namespace"] = namespace
        for subject in doc.get("subjects") or []:
            if subject.get("namespace") == original:
                subject["namespace"] = namespace
        service = ((doc.get("spec") or {}).get("service")) if doc.get("kind") == "APIService" else None
        if service and service.get("namespace") == original:
            service["namespace"] = namespace
        result.append(doc)
    return result


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads a lone `=` as the "value" type, which the API server (YAML 1.2) reads as a string."""


_Loader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


def _load_documents(text: str) -> list[dict[str, Any]]:
    documents = []
    for doc in yaml.load_all(text, Loader=_Loader):
        if not doc:
            continue
        if doc.get("kind") == "List":
            documents.extend(item for item in doc.get("items") or [] if item)
        else:
            documents.append(doc)
    return documents


def manifest_files(module_dir: Path, paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for entry in paths:
        path = module_dir / entry
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml")))
        elif path.is_file():
            files.append(path)
        else:
            raise ReleaseError(f"{entry} is not in the module at {module_dir}")
    return files


def helm_template(helm: Path, chart_dir: Path, release_name: str, namespace: str, values: dict[str, Any],
                  kube_version: str, api_versions: list[str],
                  drop_dependencies: list[str]) -> list[dict[str, Any]]:
    """`helm template` of a chart copied out of the read-only module, with its disabled subcharts
    left out of Chart.yaml (they are not in the module; the roles install them on their own)."""
    with tempfile.TemporaryDirectory(prefix="aicluster-chart-") as scratch:
        chart = Path(scratch) / chart_dir.name
        shutil.copytree(chart_dir, chart)
        for path in [chart, *chart.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)
        chart_yaml = chart / "Chart.yaml"
        metadata = yaml.safe_load(chart_yaml.read_text())
        if metadata.get("dependencies"):
            metadata["dependencies"] = [dep for dep in metadata["dependencies"]
                                        if dep["name"] not in drop_dependencies]
            chart_yaml.write_text(yaml.safe_dump(metadata, sort_keys=False))
        values_file = Path(scratch) / "values.yaml"
        values_file.write_text(yaml.safe_dump(values))
        command = [str(helm), "template", release_name, str(chart), "--namespace", namespace,
                   "--include-crds", "--no-hooks", "--skip-tests", "--kube-version", kube_version,
                   "--values", str(values_file)]
        for api_version in api_versions:
            command += ["--api-versions", api_version]
        completed = subprocess.run(command, capture_output=True, text=True, check=False,
                                   env={"HOME": scratch, "PATH": "/usr/bin:/bin",
                                        "HELM_CACHE_HOME": scratch, "HELM_CONFIG_HOME": scratch,
                                        "HELM_DATA_HOME": scratch})
        if completed.returncode != 0:
            raise ReleaseError(f"helm template of {chart_dir.name} failed: {completed.stderr.strip()[-800:]}")
        return _load_documents(completed.stdout)


@dataclass
class RenderRequest:
    release: str
    namespace: str
    values: dict[str, Any] = field(default_factory=dict)
    release_name: str = ""
    kube_version: str = ""
    api_versions: list[str] = field(default_factory=list)
    drop_dependencies: list[str] = field(default_factory=list)
    exclude: list[dict[str, str]] = field(default_factory=list)
    manifests_namespace: str = ""
    allow_unpinned_images: bool = False
    # Objects of the calling role (our own manifests), put through the same image policy.
    definitions: list[dict[str, Any]] = field(default_factory=list)
    # Flags set on containers of the release's workloads (see set_container_args).
    container_args: list[dict[str, Any]] = field(default_factory=list)


def render(bom: Bom, request: RenderRequest, module_dir: Path, helm: Path | None) -> list[dict[str, Any]]:
    """The release's objects, images pinned, in apply order; fails on an unpinned image."""
    if not request.release:
        return finish(bom, list(request.definitions), request.allow_unpinned_images, "of the role")
    release = release_of(bom, request.release)
    if release.chart:
        if helm is None:
            raise ReleaseError(f"release {release.name} is a chart and needs the helm binary")
        documents = helm_template(helm, module_dir / release.chart, request.release_name or release.name,
                                  request.namespace, request.values,
                                  request.kube_version or bom.kubernetes_version, request.api_versions,
                                  request.drop_dependencies)
    else:
        documents = []
        for path in manifest_files(module_dir, release.manifests):
            documents.extend(_load_documents(path.read_text(encoding="utf-8")))
        if request.manifests_namespace:
            documents = set_namespace(documents, request.manifests_namespace, request.namespace)
    documents = [doc for doc in documents if not excluded(doc, request.exclude)]
    # As `helm install` and `kubectl apply -n` do: namespaced objects that name no namespace
    # belong to the release's (some charts leave it out of their RBAC, for one).
    for doc in documents:
        metadata = doc.setdefault("metadata", {})
        if doc.get("kind") not in CLUSTER_SCOPED_KINDS and not metadata.get("namespace"):
            metadata["namespace"] = request.namespace
    if request.container_args:
        documents = set_container_args(documents, request.container_args)
    return finish(bom, documents + list(request.definitions), request.allow_unpinned_images, release.name)


def finish(bom: Bom, documents: list[dict[str, Any]], allow_unpinned: bool,
           label: str) -> list[dict[str, Any]]:
    documents = pin_images(documents, pinning(bom))
    if not allow_unpinned:
        tagged = [f"{image['repository']}:{image['tag']}" for image in (bom.raw.get("images") or {}).values()]
        unpinned = unpinned_images(documents, tagged)
        if unpinned:
            raise ReleaseError(
                f"release {label}: images without a digest: {', '.join(unpinned)}. Give each a "
                "digest in bom.yaml (images), or set aicluster_allow_unpinned_images: true in the "
                "inventory to run images by tag")
    return ordered(documents)


def crd_schemas(documents: Iterable[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """openAPIV3Schema of every served version of the CRDs among the documents, by (apiVersion, kind)."""
    schemas = {}
    for doc in documents:
        if doc.get("kind") != "CustomResourceDefinition":
            continue
        spec = doc["spec"]
        for version in spec.get("versions") or []:
            schema = (version.get("schema") or {}).get("openAPIV3Schema")
            if version.get("served", True) and schema:
                schemas[(f"{spec['group']}/{version['name']}", spec["names"]["kind"])] = schema
    return schemas


def _structural(schema: Any) -> Any:
    """A CRD schema as JSON Schema: Kubernetes extensions dropped, int-or-string allowed."""
    if isinstance(schema, list):
        return [_structural(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {k: _structural(v) for k, v in schema.items() if not k.startswith("x-kubernetes-")}
    if schema.get("x-kubernetes-int-or-string"):
        result.pop("type", None)
        result["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    # Strict, like a server-side apply with fieldValidation=Strict: unknown fields are errors.
    if ("properties" in schema and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")):
        result["additionalProperties"] = False
    return result


def validate_offline(documents: list[dict[str, Any]], crds: Iterable[dict[str, Any]],
                     kube_version: str) -> list[str]:
    """Errors of every object against the Kubernetes schemas of the release (strict: unknown fields
    are errors) or, for custom resources, against their CRD's schema."""
    import jsonschema
    import kubernetes_validate

    schemas = crd_schemas([*crds, *documents])
    version = kube_version.lstrip("v")
    errors = []
    for doc in documents:
        key = (doc.get("apiVersion", ""), doc.get("kind", ""))
        label = f"{key[1]} {(doc.get('metadata') or {}).get('name')}"
        if key in schemas:
            schema = _structural(schemas[key])
            # Fields every object has, which CRD schemas may leave out.
            schema.setdefault("properties", {}).update(
                {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                 "metadata": {"type": "object"}})
            for error in jsonschema.Draft7Validator(schema).iter_errors(doc):
                errors.append(f"{label}: {'/'.join(map(str, error.absolute_path))}: {error.message}")
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            errors.append(f"{label}: no schema for {key[0]} {key[1]} in Kubernetes {version} or the CRDs")
        except kubernetes_validate.ValidationError as error:
            errors.append(f"{label}: {'/'.join(map(str, error.path))}: {error.message}")
    return errors


def resolve(bom: Bom, name: str, log_path: Path) -> tuple[Path, Path | None]:
    """The release module's files (downloaded through the Go module proxy into the per-user cache)
    and, for a chart, the helm binary (fetched or built once, then cached)."""
    from aicluster.binaries import ensure_binary_set, module_source_dir

    release = release_of(bom, name)
    module_dir = module_source_dir(bom.source(release.source))
    helm = None
    if release.chart:
        helm = ensure_binary_set(bom.binaries["helm"], lambda _message: None, log_path) / "helm"
    return module_dir, helm
