"""Service verdicts from endpoint verdicts.

Some endpoints stand in for each other (a `group` in the target list: LINE's three LEGY gateways, WeChat's long
link on several ports): a group is reachable when any member is. Only core endpoints decide a service's status;
a blocked website does not make a messenger unusable.
"""

from __future__ import annotations

from collections.abc import Sequence

from probe.model import EndpointVerdict, ServiceStatus, ServiceVerdict, Target, Verdict


def _group_status(verdicts: Sequence[EndpointVerdict]) -> ServiceStatus:
    if any(v.verdict is Verdict.OK for v in verdicts):
        return ServiceStatus.REACHABLE
    if any(v.verdict is not Verdict.INCONCLUSIVE for v in verdicts):
        return ServiceStatus.BLOCKED
    return ServiceStatus.INCONCLUSIVE


def aggregate(targets: Sequence[Target], verdicts: Sequence[EndpointVerdict]) -> tuple[ServiceVerdict, ...]:
    """One verdict per service, in the order services first appear in `targets`."""
    by_service: dict[str, list[tuple[Target, EndpointVerdict]]] = {}
    for target, verdict in zip(targets, verdicts, strict=True):
        by_service.setdefault(target.service, []).append((target, verdict))
    out = []
    for service, pairs in by_service.items():
        core = [(t, v) for t, v in pairs if t.core] or pairs
        groups: dict[str, list[EndpointVerdict]] = {}
        for t, v in core:
            groups.setdefault(t.group or f"{t.input} {t.server_name}", []).append(v)
        statuses = [_group_status(vs) for vs in groups.values()]
        if all(s is ServiceStatus.REACHABLE for s in statuses):
            status = ServiceStatus.REACHABLE
        elif all(s is ServiceStatus.BLOCKED for s in statuses):
            status = ServiceStatus.BLOCKED
        elif any(s is ServiceStatus.BLOCKED for s in statuses):
            status = ServiceStatus.PARTIAL
        else:
            status = ServiceStatus.INCONCLUSIVE
        out.append(ServiceVerdict(service=service, status=status))
    return tuple(out)
