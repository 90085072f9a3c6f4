"""A volunteer's run from start to end, printing nothing: the steps around the measurement, in their order.

1. **The request**: the options, else the configuration (`Options` over `Settings`), checked before anything
   else; a bad value stops the run naming where it came from.
2. **Consent** (asked through the caller's hook when someone is at a terminal): before anything leaves the machine,
   the spool's drain included.
3. **Location and key**: `probe_cc`/`probe_asn`, and the signing key, loaded (or made) before measuring, so a
   broken key file stops the run before a measurement is lost.
4. **The run lock**: one run at a time (`locks`). Under it, the results folder is found writable before
   anything is measured (else the state folder's `results/` takes the result, and the run says so).
5. **Drain** what earlier runs left in the upload spool, within a short budget.
6. **Run** (`probe.runner`): measure, judge, write the signed result file.
7. **History and retention**: the run's record, old results and the scheduled-run log pruned. Trouble here never
   fails the run: the result file is safe already.
8. **Seal** the new file into the upload spool, and **drain** again. With uploads on, each file is noted in
   `pending/` when signed, before it is written, and the note cleared once sealed: what a killed run leaves
   unqueued, the next run (before step 5) or `probe upload` queues (`probe.local.pending`).

Whatever stops a run is a `Stop` (exit 2, or 3 when nothing could be measured); whatever goes wrong after the
result file is written is a notice. The caller (`probe.cli.run`) prints both, the table and the summary; this
module returns what happened. Checks to add to a run belong here, at their step.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from probe.local.config import Settings, Upload
    from probe.local.geo import Where
    from probe.local.spool import Dropped
    from probe.runner import RunConfig, RunOutcome, Signer

DRAIN_BEFORE_RUN = 20.0  # seconds: a backlog must not delay the measurement much
DRAIN_AFTER_RUN = 60.0

Notice = Callable[[str, bool], None]  # (sentence, important): important ones are shown even with --json
Ticker = Callable[[], None]
# (steps, endpoints) -> a tick per step; controls are measured before and after the targets: two steps each
Progress = Callable[[int, int], contextlib.AbstractContextManager[Ticker | None]]
AskConsent = Callable[["Settings"], "Settings | None"]  # None: declined


class Stop(Exception):
    """The run cannot go on, and says why; nothing already measured or queued is lost. `cannot_measure`: exit 3
    (no network, another run holds the lock), else exit 2 (bad input or setup)."""

    def __init__(self, message: str, *, cannot_measure: bool = False) -> None:
        super().__init__(message)
        self.cannot_measure = cannot_measure


@dataclass(frozen=True)
class Options:
    """`probe run`'s options; None (or empty) where the volunteer gave none, so the configuration decides."""

    targets: tuple[Path, ...] = ()
    services: tuple[str, ...] = ()
    resolver: str | None = None
    doh: tuple[str, ...] = ()
    ca_files: tuple[Path, ...] = ()
    timeout: float | None = None
    results_dir: Path | None = None
    capture: bool = True  # False: --no-capture, whatever the configuration says
    upload: bool | None = None
    no_controls: bool = False  # --no-controls: the bundled controls left out (a list's own controls stay)
    helper_urls: tuple[str, ...] = ()  # --helper: control vantages to ask (else [control] helper_url)
    helper_keys: tuple[str, ...] = ()  # --helper-key: RW... lines or .pub files (else [control] helper_key)
    no_helper: bool = False  # --no-helper: ask none, whatever the configuration says
    transfer: bool = True  # False: --no-transfer (issue 16: the capped stall/throttle transfers)
    anchors: tuple[str, ...] = ()  # --anchor NAME=FILE: bundled trust anchors replaced


@dataclass(frozen=True)
class Hooks:
    """How the run reaches the person (or cron job) that started it."""

    notice: Notice
    ask_consent: AskConsent | None = None  # None: no one to ask (no terminal)
    progress: Progress | None = None
    show: Callable[[RunOutcome], None] | None = None  # the result, before the uploads that follow it


def run(options: Options, settings: Settings, hooks: Hooks) -> RunOutcome:
    """The whole life cycle (module docstring). Raises Stop."""
    from probe.runner import progress_total
    from probe.runner import run as run_measurements

    config = _config(options, settings)  # 1
    settings = _consent(settings, hooks.ask_consent)  # 2
    where = _locate(settings)  # 3
    signer = _signer(hooks.notice)
    uploading = settings.upload.enabled if options.upload is None else options.upload
    started = datetime.now(UTC)
    with _one_run_at_a_time():  # 4
        results_dir, fallback = _results_folder(config.results_dir, hooks.notice)
        drops = _pending_drops(hooks.notice) if uploading else None
        config = dataclasses.replace(
            config,
            probe_cc=where.probe_cc,
            probe_asn=where.probe_asn,
            asn_databases=tuple(settings.location.geoip_db),
            annotations=tuple(drops.annotations().items()) if drops else (),
            results_dir=results_dir,
            fallback_dir=fallback,
        )
        if uploading:
            recover_unqueued(hooks.notice, spare_young=False)  # what a killed run signed and never queued
            signer = _marking(signer, [d for d in (results_dir, fallback) if d is not None])
            _drain(settings.upload, DRAIN_BEFORE_RUN, hooks.notice)  # 5
        progress = hooks.progress or _no_progress
        with progress(progress_total(config.targets), len(config.targets)) as tick:  # 6
            try:
                outcome = run_measurements(dataclasses.replace(config, progress=tick), signer=signer)
            except _trust_errors() as exc:
                raise Stop(f"{_named('--ca-file', options.ca_files, 'ca_files')}: {exc}") from exc
            except OSError as exc:  # neither folder could take the result after all
                raise Stop(
                    f"cannot write the result file: {exc.strerror or exc}; this run's measurements are lost"
                ) from exc
        written = outcome.result_file.parent.parent if outcome.result_file else results_dir
        if written != results_dir:
            hooks.notice(f"{results_dir} could not take the result file; it went to {written}", True)
        _after_run(outcome, settings, started, written, hooks.notice)  # 7
    if hooks.show is not None:
        hooks.show(outcome)
    if uploading and drops is not None and outcome.result_file is not None:  # 8
        _queue_and_drain(outcome.result_file, outcome.signature_file, drops, settings.upload, hooks.notice)
    return outcome


# --- 1. the request --------------------------------------------------------------------------------------------


def _config(options: Options, settings: Settings) -> RunConfig:
    """The run's configuration from the options, else the settings; Stop naming the value's source when bad."""
    from probe import readfile
    from probe import targets as target_lists
    from probe.local.config import option_problem
    from probe.net import resolvers
    from probe.net.doh import DEFAULT_DOH
    from probe.runner import RunConfig

    chosen = settings.run
    timeout = chosen.timeout if options.timeout is None else options.timeout
    problem = option_problem("run", "timeout", timeout)  # one check for the option and the file
    if problem:
        raise Stop(f"--timeout {timeout:g}: {problem}")
    target_files = options.targets or chosen.targets
    try:
        selected = target_lists.load(list(target_files) or None)
        if not target_files and options.no_controls:
            selected = target_lists.without_controls(selected)
        elif target_files and not options.no_controls:  # a list of one's own still gets the canaries (issue 15)
            selected = target_lists.with_bundled_controls(selected)
    except target_lists.TargetsError as exc:
        raise Stop("bad target list:\n  " + "\n  ".join(exc.problems)) from exc
    if not selected:
        raise Stop("nothing to measure: the bundled lists without their controls (--no-controls) left nothing")
    services = options.services or chosen.services
    if services:
        known = {t.service for t in selected}
        unknown = sorted(set(services) - known)
        if unknown:
            where = _named("--service", options.services, "services")
            raise Stop(f"unknown {where} {', '.join(unknown)}; the target list has: {', '.join(sorted(known))}")
        selected = target_lists.select(selected, list(services))
    resolver_text = options.resolver or chosen.resolver
    try:
        resolver = resolvers.system() if resolver_text is None else resolvers.parse(resolver_text)
    except resolvers.NoSystemResolver as exc:
        raise Stop(f"{exc}; name a resolver with --resolver ADDR[:PORT]", cannot_measure=True) from exc
    except resolvers.ResolverError as exc:
        raise Stop(f"{_named('--resolver', options.resolver, 'resolver')} {resolver_text}: {exc}") from exc
    doh_urls = options.doh or chosen.doh or DEFAULT_DOH
    for url in doh_urls:
        if not url.startswith("https://"):
            where = _named("--doh", options.doh, "doh")
            raise Stop(f"{where} {url}: a DoH resolver is an https:// URL, e.g. https://1.1.1.1/dns-query")
    ca_files = options.ca_files or chosen.ca_files
    for path in ca_files:
        try:
            readfile.check(path, readfile.CA_FILE)  # OpenSSL reads it whole, whatever it is
        except FileNotFoundError:
            raise Stop(f"{_named('--ca-file', options.ca_files, 'ca_files')} {path}: no such file") from None
        except OSError as exc:
            raise Stop(f"{_named('--ca-file', options.ca_files, 'ca_files')} {path}: {exc.strerror or exc}") from None
    anchors = _anchors(options.anchors)
    return RunConfig(
        targets=selected,
        resolver=resolver.address,
        resolver_port=resolver.port,
        resolver_label=resolver.label,
        doh_urls=tuple(doh_urls),
        ca_files=tuple(ca_files),
        timeout=timeout,
        results_dir=chosen.results_dir if options.results_dir is None else options.results_dir,
        options=(
            f"timeout={timeout:g}",
            f"resolver={resolver.label}",
            *(f"doh={resolvers.doh_label(u)}" for u in doh_urls),
            *(("no_controls",) if options.no_controls else ()),
            *([] if options.transfer else ["transfer=off"]),
            *(f"anchor={name}" for name, _ in anchors),  # the name only: a path may name the volunteer
        ),
        capture=chosen.capture and options.capture,
        transfer=options.transfer,
        anchors=anchors,
        **_helpers(options, settings),
    )


def _helpers(options: Options, settings: Settings) -> dict[str, Any]:
    """The control vantages to ask (`probe helper serve`, issue 17): the options, else `[control]`; none with
    --no-helper. Keys become RW... lines; their views are asked for through the uploads' SOCKS proxy."""
    import re

    from probe import minisign
    from probe.local.upload import socks5_problem

    if options.no_helper:
        return {}
    urls = options.helper_urls or settings.control.helper_url
    for url in urls:
        if not re.fullmatch(r"https?://[^/\s?#]+(/[^\s?#]*)?", url):
            where = "--helper" if options.helper_urls else "[control] helper_url"
            raise Stop(f"{where} {url}: a helper is an http:// or https:// base URL without a query")
    public: list[str] = []
    for key in options.helper_keys or settings.control.helper_key:
        path = Path(key)
        try:
            found = minisign.PublicKey.from_file(path.read_bytes()) if path.is_file() else None
            public.append((found or minisign.PublicKey.from_base64(key)).to_base64())
        except (minisign.MinisignError, OSError) as exc:
            raise Stop(f"--helper-key {key}: not a minisign public key or .pub file ({exc})") from exc
    if urls and not public:
        raise Stop("--helper needs the helper's public key: --helper-key KEY, or [control] helper_key")
    proxy = settings.upload.socks_proxy
    problem = socks5_problem(proxy, "requests to a control vantage") if urls and proxy else None
    if problem:  # never around the proxy: without it the helper would see the volunteer's address
        from probe.local import config

        raise Stop(f"{config.origin('upload', 'socks_proxy')}: {problem}")
    return {"helper_urls": tuple(urls), "helper_keys": tuple(public), "helper_proxy": proxy}


def _anchors(values: tuple[str, ...]) -> tuple[tuple[str, Path], ...]:
    """--anchor NAME=FILE values, checked: a bundled anchor's name and a file that exists."""
    from probe import readfile
    from probe.anchors import ANCHORS

    out = []
    for value in values:
        name, sep, file = value.partition("=")
        if not sep or not file:
            raise Stop(f"--anchor {value}: expected NAME=FILE, e.g. signal=signal-ca.pem")
        if name not in ANCHORS:
            raise Stop(f"--anchor {value}: no bundled anchor {name!r}; there are: {', '.join(ANCHORS)}")
        try:
            readfile.check(Path(file), readfile.CA_FILE)
        except FileNotFoundError:
            raise Stop(f"--anchor {value}: no such file {file}") from None
        except OSError as exc:
            raise Stop(f"--anchor {value}: {exc.strerror or exc}") from None
        out.append((name, Path(file)))
    return tuple(out)


def _named(option: str, given: object, key: str) -> str:
    """Where a value came from: the option when it was given, else the setting (file or environment variable)."""
    if given:
        return option
    from probe.local import config

    return config.origin("run", key)


# --- 2. consent, 3. location and key, 4. the lock --------------------------------------------------------------


def _consent(current: Settings, ask: AskConsent | None) -> Settings:
    """Consent to the current text, asked now if someone can answer. Without it nothing is measured."""
    from probe.local import consent

    if consent.given(current):
        return current
    again = " (the text changed since you agreed)" if current.consent.accepted else ""
    if ask is None:
        raise Stop(
            f"no recorded consent{again}, so nothing was measured. Read and accept what running probe means with "
            "`probe init` (or `probe init --accept-risks` in automation)"
        )
    saved = ask(current)
    if saved is None:
        raise Stop("consent declined: nothing was measured")
    return saved


def _locate(current: Settings) -> Where:
    from probe.local import config, geo

    try:
        return geo.locate(current.location)
    except geo.GeoError as exc:
        raise Stop(f"{exc} (from {config.origin('location', 'geoip_db')})") from exc


def _signer(notice: Notice) -> Signer:
    """Sign with the probe's key pair (made on first use). A secret key that went missing after this probe had an
    identity (its public key left behind, retired keys, or past runs) is replaced, and said loudly: the collector
    sees a new probe, and files signed before verify only with the old public key (issue 20)."""
    from probe import signing
    from probe.local import history, keys

    try:
        had_secret = keys.key_files().secret.exists()
        left_behind = None if had_secret else keys.current_public()
        had_identity = not had_secret and bool(left_behind or keys.old_publics() or history.read())
        secret = keys.load_or_create()
        if had_identity:
            keys.note_replaced(left_behind, secret.public_key())
    except (keys.KeyStoreError, OSError) as exc:
        raise Stop(f"cannot load the probe key: {exc}") from exc
    if had_identity:
        kept = f" (its public key is kept in {keys.key_files().old})" if left_behind else ""
        notice(
            f"WARNING: the secret key {keys.key_files().secret} was missing, so a new key pair was made: this probe "
            f"is now a NEW identity (key {secret.public_key().key_id_hex}) to the collector and to anyone checking "
            f"its files; files signed before verify only with the old public key{kept}. Restore the old probe.key "
            "from a backup to keep the old identity",
            True,
        )
    return lambda data, name: signing.sign_result(data, name, secret)


@contextlib.contextmanager
def _one_run_at_a_time() -> Iterator[None]:
    from probe.local import locks

    with contextlib.ExitStack() as held:
        try:
            held.enter_context(locks.exclusive(locks.run_lock_path()))
        except locks.Busy as exc:
            raise Stop(
                f"another probe run is in progress (pid {exc.holder or 'unknown'}; lock {exc.path}); this run "
                "measured nothing",
                cannot_measure=True,
            ) from exc
        except OSError as exc:  # a full, read-only or foreign state folder (issue 21: a traceback at the lock)
            where = exc.filename or locks.run_lock_path()
            raise Stop(f"cannot take the run lock {where}: {exc.strerror or exc}; this run measured nothing") from exc
        yield


@contextlib.contextmanager
def _no_progress(steps: int, endpoints: int) -> Iterator[Ticker | None]:
    yield None


def _trust_errors() -> tuple[type[Exception], ...]:
    from probe.failures import CertificateError

    return (CertificateError,)


def _results_folder(wanted: Path, notice: Notice) -> tuple[Path, Path | None]:
    """The folder this run writes its result into, and the fallback for when it cannot after all, both found
    writable before measuring (issue 21: a results folder that was a file, read-only or full lost the run after
    measuring, and a full disk left a signature without its result file). The fallback is the state folder's
    `results/`; when `wanted` cannot be written, the run writes there, and says so."""
    from probe.local import paths

    fallback = paths.state_dir() / "results"
    problem = _unwritable(wanted)
    if problem is None:
        return wanted, (None if fallback.absolute() == wanted.absolute() or _unwritable(fallback) else fallback)
    second = "the same folder" if fallback.absolute() == wanted.absolute() else _unwritable(fallback)
    if second is not None:
        raise Stop(f"the results folder {wanted} cannot be written ({problem}), nor {fallback} ({second}): "
                   "nothing was measured")  # fmt: skip
    notice(f"the results folder {wanted} cannot be written ({problem}): this run's result goes to {fallback}", True)
    return fallback, None


CHECK_BYTES = 64 * 1024  # a folder that cannot take this cannot take a result file


def _unwritable(folder: Path) -> str | None:
    """Why `folder` cannot take a file, or None: a file written there, synced and removed, tells. Folders made
    for the check are removed again: a run that stops later leaves nothing behind."""
    import os
    import tempfile

    if folder.exists() and not folder.is_dir():
        return "it is a file, not a folder"
    made = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".probe-write-check.", suffix=".tmp") as handle:
            handle.write(bytes(CHECK_BYTES))
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        return exc.strerror or str(exc)
    finally:
        for path in made:  # deepest first
            with contextlib.suppress(OSError):
                path.rmdir()
    return None


# --- 7. history and retention ----------------------------------------------------------------------------------


def _after_run(outcome: RunOutcome, current: Settings, started: datetime, results_dir: Path, notice: Notice) -> None:
    """Record the run in the history and its folder among those written to, prune old results in every such
    folder (each kept within the same limits), trim the scheduled-run log; never fails the run."""
    from probe.local import folders, history, paths, retention, schedule

    try:
        folders.remember(results_dir)
    except OSError as exc:
        notice(f"cannot record the results folder {results_dir}: {exc}", True)
    keep = [p for p in (outcome.result_file, outcome.signature_file) if p is not None]
    pruned: list[Path] = []
    for folder in folders.every(results_dir):
        try:
            pruned += retention.prune(folder, current.retention.days, current.retention.megabytes, keep=keep)
        except OSError as exc:
            notice(f"retention: cannot prune {folder}: {exc}", True)
    for folder in (results_dir, paths.state_dir(), paths.config_dir()):  # what killed runs left behind
        retention.sweep(folder)
    retention.trim_log(schedule.log_path())
    record = history.RunRecord(
        started=_iso(started),
        finished=_iso(datetime.now(UTC)),
        vantage=outcome.vantage.status.value,
        services={s.service: s.status.value for s in outcome.services},
        endpoints=len(outcome.measured),
        result_file=str(outcome.result_file.absolute()) if outcome.result_file else None,
        pruned=len(pruned),
    )
    try:
        history.append(record)
    except OSError as exc:
        notice(f"cannot write the run history: {exc}", True)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- 5. and 8. the upload spool --------------------------------------------------------------------------------


def _pending_drops(notice: Notice) -> Dropped:
    """What the spool's cap dropped and no result file has reported yet (goes into the next file)."""
    from probe.local.spool import Dropped, Spool

    try:
        return Spool().dropped()
    except OSError as exc:
        notice(f"upload: cannot read the upload spool ({exc.strerror or exc}); its drops go unreported this time", True)
        return Dropped()


def _marking(signer: Signer, results_dirs: list[Path]) -> Signer:
    """`signer`, noting each file it signs as not yet queued (`probe.local.pending`) before the file is written."""
    from probe.local import pending

    def sign(data: bytes, name: str) -> bytes:
        signature = signer(data, name)
        with contextlib.suppress(OSError):  # a full state folder: the file is still written, only not recoverable
            pending.mark(name, results_dirs)
        return signature

    return sign


def recover_unqueued(notice: Notice, *, spare_young: bool) -> None:
    """Queue the results that earlier runs signed and never sealed into the spool (they were killed in between).
    `spare_young`: outside a run (`probe upload`), whose markers may belong to a run measuring now."""
    from probe.local import pending

    recovered = pending.recover(_seal, spare_young=spare_young)
    if recovered.sealed:
        notice(f"upload: queued {len(recovered.sealed)} result file(s) an interrupted run had left unqueued", False)
    for problem in recovered.problems:
        notice(f"upload: {problem}", True)


def _seal(result_file: Path, signature_file: Path) -> None:
    from probe.local.spool import Spool

    Spool().seal(result_file.read_bytes(), signature_file.read_bytes(), result_file.name, public_key_line())


def _queue_and_drain(
    result_file: Path, signature_file: Path | None, reported: Dropped, settings: Upload, notice: Notice
) -> None:
    """Seal the new signed result file into the spool, clear the drop count it reported, and drain."""
    from probe.local.spool import Spool

    if signature_file is None:
        notice("upload: the result file is not signed, so it is not queued", True)
        return
    from probe.local import pending

    spool = Spool()
    try:
        _seal(result_file, signature_file)
    except OSError as exc:
        notice(f"upload: cannot queue {result_file} ({exc.strerror or exc}); the next run or upload tries again", True)
        return
    pending.unmark(result_file.name)
    spool.acknowledge_dropped(reported)
    if not settings.collector_url:
        notice("upload: queued; no collector yet (`probe init --collector URL`, or `probe upload --to URL`)", False)
        return
    _drain(settings, DRAIN_AFTER_RUN, notice)


def _drain(settings: Upload, budget: float, notice: Notice) -> None:
    """Send what the spool holds, within `budget` seconds; a network or spool problem is a notice, not a stop."""
    from probe.local.spool import Spool
    from probe.local.upload import BadUploadSetting, drain, uploader

    if not settings.collector_url:
        return
    try:
        client = uploader(settings.collector_url, settings.socks_proxy)
    except BadUploadSetting as exc:
        from probe.local import config

        raise Stop(f"{config.origin('upload', exc.key)}: {exc}") from exc
    try:
        report = drain(Spool(), client, budget=budget, default_public_key=public_key_line())
    except OSError as exc:
        # The run's own result is safe in the results folder (and in the spool when sealing worked).
        notice(f"upload: cannot use the upload spool: {exc.strerror or exc}", True)
        return
    if report.delivered or report.duplicates or report.dead or report.next_attempt:
        notice(report.summary(), bool(report.dead))


@dataclass(frozen=True)
class Queued:
    """What `queue_existing` did."""

    files: int  # signed result files sealed into the spool (a file already queued counts, and is queued once)
    unsigned: int  # result files without a signature beside them: never uploaded
    folders: tuple[Path, ...]

    def summary(self) -> str:
        where = ", ".join(str(f) for f in self.folders)
        unsigned = f"; {self.unsigned} without a signature left out" if self.unsigned else ""
        files = "1 result file" if self.files == 1 else f"{self.files} result files"
        return f"queued {files} from {where}{unsigned}"


def queue_existing(results_dir: Path) -> Queued:
    """Seal every signed result file of every results folder the probe wrote to into the upload spool, oldest
    first (`probe upload --all`: files made while uploads were off). The spool keeps one copy of the same bytes; a
    file the collector already holds is answered 200 and forgotten. Raises OSError when the spool cannot be used."""
    from probe import readfile, wire
    from probe.local import folders, retention
    from probe.local.spool import Spool

    spool = Spool()
    sealed = unsigned = 0
    searched = folders.every(results_dir)
    for folder in searched:
        for result in retention.results(folder):
            signature = wire.signature_path(result.path)
            if not signature.is_file():
                unsigned += 1
                continue
            # No key recorded with it: a file signed before a key rotation gets the collector's stored key.
            data = readfile.read_bytes(result.path, readfile.RESULT_FILE)
            spool.seal(data, readfile.read_bytes(signature, readfile.SIGNATURE_FILE), result.path.name)
            sealed += 1
    return Queued(sealed, unsigned, searched)


def public_key_line() -> str | None:
    """The probe's current public key line, sent with files sealed before the spool recorded keys."""
    from probe.local import keys

    try:
        public = keys.current_public()
    except (keys.KeyStoreError, OSError):
        return None
    return public.to_base64() if public else None
