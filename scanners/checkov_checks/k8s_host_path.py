"""airlock.k8s.host-path-volume: a workload that mounts a directory of the node (hostPath)."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.common.util.data_structures_utils import find_in_dict
from checkov.kubernetes.checks.resource.base_spec_check import BaseK8Check

KINDS = ("Pod", "Deployment", "DaemonSet", "StatefulSet", "ReplicaSet", "ReplicationController", "Job", "CronJob")


class HostPathVolume(BaseK8Check):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__(
            name="Do not mount hostPath volumes (the node's filesystem inside the pod)",
            id="airlock.k8s.host-path-volume",
            categories=(CheckCategories.KUBERNETES,),
            supported_entities=KINDS,
        )

    def scan_spec_conf(self, conf: dict[str, Any]) -> CheckResult:
        kind = conf.get("kind")
        if kind == "Pod":
            spec = conf.get("spec")
        elif kind == "CronJob":
            spec = find_in_dict(input_dict=conf, key_path="spec/jobTemplate/spec/template/spec")
        else:
            spec = find_in_dict(input_dict=conf, key_path="spec/template/spec")
        if not isinstance(spec, dict):
            return CheckResult.PASSED
        volumes = spec.get("volumes") or []
        if not isinstance(volumes, list):
            return CheckResult.UNKNOWN
        if any(isinstance(v, dict) and v.get("hostPath") for v in volumes):
            return CheckResult.FAILED
        return CheckResult.PASSED


check = HostPathVolume()
