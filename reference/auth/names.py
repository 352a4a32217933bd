"""Names Knative derives from objects (knative.dev/pkg kmeta.ChildName, knative/eventing pkg/auth)."""

from __future__ import annotations

import hashlib

LONGEST = 63
HEAD = LONGEST - 32  # what is kept of a long parent before the MD5 hex hash
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount"
OIDC_LABEL = "eventing.knative.dev/oidc"


def _valid_end(name: str) -> str:
    while name and not name[-1].isalnum():
        name = name[:-1]
    return name


def child_name(parent: str, suffix: str) -> str:
    """kmeta.ChildName: parent + suffix, hashed and cut to 63 characters when longer."""
    if len(parent) <= LONGEST - len(suffix):
        return parent + suffix
    if HEAD - len(suffix) <= 0:
        digest = hashlib.md5((parent + suffix).encode()).hexdigest()
        ret = parent[:HEAD] + digest
        if LONGEST - len(ret) > 0:
            ret += suffix[:LONGEST - len(ret)]
        return _valid_end(ret)
    digest = hashlib.md5(parent.encode()).hexdigest()
    return _valid_end(parent[:HEAD - len(suffix)] + digest + suffix)


def audience(group: str, kind: str, namespace: str, name: str) -> str:
    """auth.GetAudience: `<group>/<kind>/<namespace>/<name>`, lower case."""
    return f"{group}/{kind}/{namespace}/{name}".lower()


def oidc_service_account(name: str, group: str, kind: str) -> str:
    """auth.GetOIDCServiceAccountNameForResource: the ServiceAccount a source or trigger sends as."""
    return child_name(name, f"-oidc-{group}-{kind}").lower()


def subject(namespace: str, service_account: str) -> str:
    """The token subject of a ServiceAccount."""
    return f"{SERVICE_ACCOUNT_PREFIX}:{namespace}:{service_account}"
