"""hub/z2jh/config.yaml against the values schema of the Zero to JupyterHub chart it pins.

The chart rejects values its schema does not allow (`helm install` fails on the facilitator's
cluster, in front of the room). The schema cannot be downloaded here, so this file records,
as facts read from `jupyterhub/values.schema.yaml` of jupyterhub/zero-to-jupyterhub-k8s at the
tag below, every key path the config uses: for each object, all the keys the schema allows
there (it sets `additionalProperties: false` on each of them, so any other key fails); for each
value, the JSON types or the enum the schema gives. A path the config uses that has no fact
here fails too: read it from the schema at the same tag and add it.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "hub" / "z2jh" / "config.yaml"

# The chart: jupyterhub 4.4.0 (appVersion 5.5.0: the hub image runs JupyterHub 5.5.0,
# jupyterhub-idle-culler 1.4.0 and jupyterhub-firstuseauthenticator 1.1.1).
CHART_VERSION = "4.4.0"

# Objects whose schema sets additionalProperties: false -> every key allowed there.
CLOSED = {
    "": "cull custom debug enabled fullnameOverride global httpRoute hub imagePullSecret "
    "imagePullSecrets ingress nameOverride prePuller proxy rbac scheduling singleuser",
    "hub": "activeServerLimit allowNamedServers annotations args authenticatePrometheus baseUrl "
    "command concurrentSpawnLimit config consecutiveFailureLimit containerSecurityContext "
    "cookieSecret db deploymentStrategy existingSecret extraConfig extraContainers extraEnv "
    "extraFiles extraPodSpec extraVolumeMounts extraVolumes fsGid image initContainers labels "
    "lifecycle livenessProbe loadRoles namedServerLimitPerUser networkPolicy nodeSelector pdb "
    "podSecurityContext readinessProbe redirectToServer resources revisionHistoryLimit service "
    "serviceAccount services shutdownOnLogout templatePaths templateVars tolerations",
    "singleuser": "allowPrivilegeEscalation cloudMetadata cmd cpu defaultUrl events "
    "extraAnnotations extraContainers extraEnv extraFiles extraLabels extraNodeAffinity "
    "extraPodAffinity extraPodAntiAffinity extraPodConfig extraResource extraTolerations fsGid "
    "image initContainers lifecycleHooks memory networkPolicy networkTools nodeSelector "
    "podNameTemplate profileList serviceAccountName startTimeout storage uid",
    "singleuser.image": "name pullPolicy pullSecrets tag",
    "singleuser.memory": "guarantee limit",
    "singleuser.cpu": "guarantee limit",
    "singleuser.storage": "capacity dynamic extraLabels extraVolumeMounts extraVolumes "
    "homeMountPath static type",
    "singleuser.lifecycleHooks": "postStart preStop",
    "cull": "adminUsers concurrency enabled every maxAge removeNamedServers timeout users",
    "proxy": "annotations chp deploymentStrategy https labels secretSync secretToken service "
    "traefik",
    "proxy.https": "enabled hosts letsencrypt manual secret type",
    "proxy.https.letsencrypt": "acmeServer contactEmail",
}
# hub.config: additionalProperties false; its keys are JupyterHub or match ^[A-Z].*$, and each
# value is an object passed through to traitlets (additionalProperties: true).
PASS_THROUGH_CLASSES = "hub.config"
CLASS_NAME = re.compile(r"^[A-Z].*$")
# Objects the schema leaves open (additionalProperties: true): their content is not checked.
OPEN = {
    "singleuser.extraEnv": ("object", "array"),
    "singleuser.lifecycleHooks.postStart": ("object",),
}
# Values: the JSON types the schema allows, or its enum.
TYPES = {
    "singleuser.image.name": ("string",),
    "singleuser.image.tag": ("string",),
    "singleuser.memory.guarantee": ("number", "string", "null"),
    "singleuser.memory.limit": ("number", "string", "null"),
    "singleuser.cpu.guarantee": ("number", "null"),
    "singleuser.cpu.limit": ("number", "null"),
    "singleuser.storage.capacity": ("string", "null"),
    "singleuser.defaultUrl": ("string", "null"),
    "singleuser.startTimeout": ("integer", "null"),
    "cull.enabled": ("boolean",),
    "cull.timeout": ("integer", "null"),
    "cull.every": ("integer", "null"),
    "proxy.https.enabled": ("boolean", "null"),
    "proxy.https.hosts": ("array",),
    "proxy.https.letsencrypt.contactEmail": ("string", "null"),
}
ENUMS = {
    "singleuser.storage.type": (None, "dynamic", "static", "none"),
    "proxy.https.type": (None, "", "letsencrypt", "manual", "offload", "secret"),
}


def json_type(value) -> set[str]:
    """The JSON Schema types a YAML value satisfies (a bool is no number; an int is a number)."""
    if value is None:
        return {"null"}
    if isinstance(value, bool):
        return {"boolean"}
    if isinstance(value, int):
        return {"integer", "number"}
    if isinstance(value, float):
        return {"number"} | ({"integer"} if value.is_integer() else set())
    if isinstance(value, str):
        return {"string"}
    if isinstance(value, list):
        return {"array"}
    return {"object"}


def problems(values: dict, path: str = "") -> list[str]:
    """Every way `values` breaks the recorded schema facts, as one line each."""
    found = []
    for key, value in values.items():
        here = f"{path}.{key}" if path else key
        if path == PASS_THROUGH_CLASSES:
            if key != "JupyterHub" and not CLASS_NAME.match(key):
                found.append(f"{here}: hub.config keys are class names (^[A-Z].*$)")
            elif not isinstance(value, dict):
                found.append(f"{here}: must be an object of traitlets settings")
        elif key not in CLOSED.get(path, "").split():
            found.append(f"{here}: unknown key (the schema allows: {CLOSED.get(path, 'nothing')})")
        elif here in CLOSED or here == PASS_THROUGH_CLASSES:
            if not isinstance(value, dict):
                found.append(f"{here}: must be an object")
            else:
                found.extend(problems(value, here))
        elif here in OPEN:
            if not json_type(value) & set(OPEN[here]):
                found.append(f"{here}: must be {' or '.join(OPEN[here])}")
        elif here in TYPES:
            if not json_type(value) & set(TYPES[here]):
                found.append(f"{here}: {value!r} is not {' or '.join(TYPES[here])}")
        elif here in ENUMS:
            if value not in ENUMS[here]:
                found.append(f"{here}: {value!r} is not one of {ENUMS[here]}")
        else:
            found.append(f"{here}: no schema fact recorded for this path (read it from the chart)")
    return found


@pytest.fixture
def values() -> dict:
    return yaml.safe_load(CONFIG.read_text())


def test_the_config_names_the_pinned_chart_version():
    assert f"--version {CHART_VERSION}" in CONFIG.read_text()


def test_every_key_and_value_of_the_config_fits_the_charts_schema(values):
    assert problems(values) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda v: v["singleuser"]["memory"].update(limt="1G"), "singleuser.memory.limt: unknown"),
        (lambda v: v["cull"].update(timeout="3600"), "cull.timeout: '3600' is not integer"),
        (lambda v: v["singleuser"]["cpu"].update(limit=True), "singleuser.cpu.limit: True is not"),
        (lambda v: v["hub"]["config"].update(authenticator={}), "hub.config.authenticator: hub"),
        (lambda v: v["proxy"]["https"].update(type="acme"), "proxy.https.type: 'acme' is not one"),
        (lambda v: v.update(singleUser={}), "singleUser: unknown key"),
    ],
)
def test_a_typo_or_a_wrong_type_fails_here_not_on_the_cluster(values, change, expected):
    broken = copy.deepcopy(values)
    change(broken)
    assert any(line.startswith(expected) for line in problems(broken)), problems(broken)


def test_guarantees_do_not_exceed_limits(values):
    """Kubernetes refuses a pod whose request is above its limit."""
    units = {"K": 1e3, "M": 1e6, "G": 1e9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}

    def size(text):
        number, unit = re.fullmatch(r"([\d.]+)([KMG]i?)?", str(text)).groups()
        return float(number) * units.get(unit, 1)

    memory, cpu = values["singleuser"]["memory"], values["singleuser"]["cpu"]
    assert size(memory["guarantee"]) <= size(memory["limit"])
    assert cpu["guarantee"] <= cpu["limit"]
