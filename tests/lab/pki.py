"""The lab's certificates: a lab CA the probe trusts only through `--ca-file`, and a second, untrusted CA whose
certificates the interception server presents (an interception box mints certificates for the names it sees)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CertFiles:
    """A key and certificate chain, as files a server reads."""

    key: Path
    chain: Path


@dataclass(frozen=True)
class LabPKI:
    """Where the lab's trust anchors and server certificates are."""

    ca_file: Path  # the lab CA, handed to the probe with --ca-file
    rogue_ca_file: Path  # the interception CA: nobody trusts it
    leaf: dict[str, CertFiles]  # server name (or address) -> certificate from the lab CA
    rogue_leaf: dict[str, CertFiles]  # server name -> certificate from the interception CA


def make_pki(folder: Path, names: Iterable[str], ip_names: Iterable[str], intercepted: Iterable[str]) -> LabPKI:
    """Make both CAs and one certificate per name: `names` and `ip_names` (an IP SAN, e.g. the DoH resolver's
    address) from the lab CA, `intercepted` from the untrusted CA. The key of each file stays readable only by
    root (the servers run as root inside the lab)."""
    import trustme

    folder.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="probe lab CA")
    rogue = trustme.CA(organization_name="Lab interception CA")
    ca_file = folder / "lab-ca.pem"
    rogue_file = folder / "rogue-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    rogue.cert_pem.write_to_path(str(rogue_file))

    def issue(authority: trustme.CA, name: str, kind: str) -> CertFiles:
        leaf = authority.issue_cert(name, common_name=name)
        base = folder / f"{kind}-{name}"
        key, chain = base.with_suffix(".key"), base.with_suffix(".pem")
        leaf.private_key_pem.write_to_path(str(key))
        key.chmod(0o600)
        with chain.open("wb") as out:
            for blob in leaf.cert_chain_pems:
                out.write(blob.bytes())
        return CertFiles(key, chain)

    leaf = {name: issue(ca, name, "lab") for name in (*names, *ip_names)}
    rogue_leaf = {name: issue(rogue, name, "rogue") for name in intercepted}
    return LabPKI(ca_file, rogue_file, leaf, rogue_leaf)
