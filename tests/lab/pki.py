"""The lab's certificates: a lab CA the probe trusts only through `--ca-file`, a second, untrusted CA whose
certificates the interception server presents (an interception box mints certificates for the names it sees), and
a private CA per bundled anchor a list pins with `ca` (a "Signal-style" CA: the probe trusts it for those names
only, through `--anchor signal=FILE`, and the lab CA not at all there)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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
    anchors: dict[str, Path]  # anchor name -> its private CA, handed to the probe with --anchor NAME=FILE


def make_pki(
    folder: Path,
    names: Iterable[str],
    ip_names: Iterable[str],
    intercepted: Iterable[str],
    pinned: Mapping[str, Iterable[str]] | None = None,
) -> LabPKI:
    """Make the CAs and one certificate per name: `names` and `ip_names` (an IP SAN, e.g. the DoH resolver's
    address) from the lab CA, `intercepted` from the untrusted CA, and the names of `pinned` (anchor -> names)
    from that anchor's own private CA instead. The key of each file stays readable only by root (the servers run
    as root inside the lab)."""
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
    anchors = {}
    for anchor, pinned_names in (pinned or {}).items():
        private = trustme.CA(organization_name=f"{anchor} private CA (lab)")
        anchors[anchor] = folder / f"anchor-{anchor}.pem"
        private.cert_pem.write_to_path(str(anchors[anchor]))
        leaf.update({name: issue(private, name, f"anchor-{anchor}") for name in pinned_names})
    return LabPKI(ca_file, rogue_file, leaf, rogue_leaf, anchors)
