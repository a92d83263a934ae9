"""The command line. It only wires choices to implementations."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import signal
import sys
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from pathlib import Path
from types import FrameType

from airlock.pipeline import __version__, proc, scratch
from airlock.pipeline.baseline import FILENAME as BASELINE_FILE
from airlock.pipeline.baseline import render as render_baseline
from airlock.pipeline.cache_store import DiskCache, open_cache
from airlock.pipeline.change import open_change
from airlock.pipeline.errors import UsageError
from airlock.pipeline.models import STAGES, GateResult, Report, Severity, Target
from airlock.pipeline.policy import (
    Policy,
    file_reader,
    load_config_file,
    load_repo_policy,
    with_project_venv,
    with_trusted_tool_paths,
)
from airlock.pipeline.runner import ProgressCallback
from airlock.pipeline.scan import ScanOptions, scan
from airlock.pipeline.waive import DEFAULT_DAYS
from airlock.pipeline.waivers import FILENAME as WAIVERS_FILE
from airlock.reports.escape import clean
from airlock.reports.registry import FORMATS, writer_for
from airlock.reports.sarif import SarifWriter

EXIT_CODES = """exit codes:
  0  the gate passed (with --exit-zero: also when it failed; the report still says FAILED)
  1  the gate failed: new findings at or above the policy's threshold
  2  no verdict: bad usage or config, or a stage that errored, crashed, timed out or whose tool is missing
     (--exit-zero never turns this into 0: a scanner error is never a pass)
"""
EXAMPLES = """examples:
  airlock doctor                                  check every tool and the sandbox on this machine
  airlock scan .                                  scan the whole tree
  airlock scan --base origin/main                 scan only what this branch changed (pull request CI)
  airlock scan --staged --stages sast,iac         the staged change, as the pre-commit hook does
  airlock scan --patch agent.diff --html-output out/report.html
  airlock scan . --exit-zero --sarif-output out/airlock.sarif   advisory: report, never block
  airlock baseline create .                       accept today's findings; only new ones gate
  airlock waive . --fingerprint 3f2a... --reason 'constant input' --owner you@example.com
"""


CI_EPILOG = """writes into --output-dir:
  sarif/airlock.sarif   SARIF 2.1.0, one run (category) per tool, split into airlock.partN.sarif at GitHub's limits
  report.json report.html report.md junit.xml gl-sast-report.json (GitLab artifacts:reports:sast)
on GitHub Actions also: $GITHUB_STEP_SUMMARY and ::error annotations

"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see '{self.prog} --help')")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="airlock",
        description="A security gate for changes written by AI coding agents.",
        epilog=EXAMPLES + "\n" + EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"airlock {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    p = sub.add_parser(
        "scan",
        help="scan a change and gate it",
        epilog=EXAMPLES + "\n" + EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Scan a directory, a revision range, a patch or the staged files.",
    )
    p.add_argument("path", nargs="?", default=".", help="the repository or directory (default: .)")
    how = p.add_argument_group("what to scan (default: the whole tree)")
    how.add_argument("--base", metavar="REF", help="diff-aware: only the change from merge-base(REF, HEAD)")
    how.add_argument("--head", metavar="REF", help="with --base: the head revision (default: HEAD)")
    how.add_argument("--patch", metavar="FILE", type=Path, help="apply a unified diff to a copy of PATH, scan it")
    how.add_argument("--staged", action="store_true", help="the staged changes against HEAD (pre-commit)")
    p.add_argument("--stages", metavar="LIST", help=f"comma-separated, from {','.join(STAGES)} (default: policy)")
    p.add_argument("--config", metavar="FILE", type=Path, help="an airlock.toml to use instead of the repo's")
    p.add_argument("--fail-on", metavar="SEVERITY", help="override the policy's [gate] fail_on")
    p.add_argument("--format", choices=FORMATS, default="text", help="report format for --output (default: text)")
    p.add_argument("--output", "-o", metavar="FILE", type=Path, help="write the report here (default: stdout)")
    p.add_argument("--json-output", metavar="FILE", type=Path, help="also write the JSON report here")
    p.add_argument("--sarif-output", metavar="FILE", type=Path, help="also write the SARIF report here")
    p.add_argument("--html-output", metavar="FILE", type=Path, help="also write a self-contained HTML report")
    p.add_argument("--markdown-output", metavar="FILE", type=Path, help="also write a Markdown summary (PR comment)")
    p.add_argument("--junit-output", metavar="FILE", type=Path, help="also write JUnit XML for CI test tabs")
    p.add_argument("--gitlab-sast-output", metavar="FILE", type=Path,
                   help="also write GitLab's SAST report (artifacts:reports:sast)")
    p.add_argument("--offline", action="store_true", help="nothing may touch the network")
    p.add_argument("--online", action="store_true",
                   help="agent stage: look added dependencies up in their registries (sets [agent] online)")
    p.add_argument("--run", metavar="CMD", action="append", help="runtime stage: a command to run in the sandbox "
                   "(repeatable; overrides [runtime] commands)")
    img = p.add_argument_group("image stage (added to the policy's [image] section)")
    img.add_argument("--image-archive", metavar="PATH", type=Path, action="append", default=[],
                     help="a docker-archive tar, OCI archive or OCI layout dir to scan (repeatable)")
    img.add_argument("--image", metavar="REF", action="append", default=[],
                     help="a registry image reference trivy pulls itself, no Docker daemon (repeatable)")
    img.add_argument("--image-cache-dir", metavar="DIR", type=Path, help="trivy's DB cache (overrides the policy)")
    add_cache_options(p)
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    p.add_argument("--quiet", "-q", action="store_true",
                   help="no progress and no report on stdout, only the one-line verdict on stderr "
                   "(the --*-output files are still written)")
    p.add_argument("--exit-zero", action="store_true",
                   help="advisory mode: exit 0 when the gate fails (the report still says FAILED); "
                   "no verdict (a stage error) still exits 2")
    c = sub.add_parser(
        "ci",
        help="scan a pull or merge request in CI and write every report into one directory",
        epilog=CI_EPILOG + EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Scan the change of a pull or merge request. The base comes from the CI (GitHub Actions: "
        "GITHUB_BASE_REF and the event payload; GitLab: CI_MERGE_REQUEST_DIFF_BASE_SHA) or --base. A shallow "
        "clone is deepened until the merge base is present, or airlock stops with exit 2.",
    )
    c.add_argument("path", nargs="?", default=".", help="the repository root (default: .)")
    c.add_argument("--base", metavar="REF", help="the base revision, instead of the CI's")
    c.add_argument("--full", action="store_true", help="scan the whole tree (a push or scheduled run, no base)")
    c.add_argument("--remote", metavar="NAME", default="origin", help="where missing history is fetched from "
                   "(default: origin)")
    c.add_argument("--stages", metavar="LIST", help=f"comma-separated, from {','.join(STAGES)} (default: policy)")
    c.add_argument("--config", metavar="FILE", type=Path, help="an airlock.toml to use instead of the repo's")
    c.add_argument("--fail-on", metavar="SEVERITY", help="override the policy's [gate] fail_on")
    c.add_argument("--offline", action="store_true", help="nothing may touch the network (no git fetch either)")
    c.add_argument("--output-dir", metavar="DIR", type=Path, default=Path("airlock-report"),
                   help="where every report goes (default: airlock-report)")
    add_cache_options(c)
    b = sub.add_parser("baseline", help="manage the baseline of accepted findings",
                       description=f"baseline create [PATH]: record today's findings in PATH/{BASELINE_FILE}.")
    bsub = b.add_subparsers(dest="baseline_command", parser_class=_Parser)
    bc = bsub.add_parser(
        "create",
        help=f"scan the whole tree and write {BASELINE_FILE}",
        description=f"Scan PATH as a whole tree and record every finding's fingerprint in PATH/{BASELINE_FILE}.",
    )
    bc.add_argument("path", nargs="?", default=".", help="the repository or directory (default: .)")
    bc.add_argument("--output", "-o", metavar="FILE", type=Path, help=f"write here instead of PATH/{BASELINE_FILE}")
    bc.add_argument("--stages", metavar="LIST", help="comma-separated stages (default: policy)")
    bc.add_argument("--config", metavar="FILE", type=Path, help="an airlock.toml to use instead of the repo's")
    bc.add_argument("--offline", action="store_true", help="nothing may touch the network")
    add_cache_options(bc)
    w = sub.add_parser(
        "waive",
        help=f"accept one finding for a while: add a waiver to {WAIVERS_FILE}",
        description=f"Add a [[waiver]] to PATH/{WAIVERS_FILE}. In diff modes waivers are read from the base "
        "revision: commit the file to the base branch.",
    )
    w.add_argument("path", nargs="?", default=".", help="the repository (default: .)")
    what = w.add_argument_group("which findings (at least one)")
    what.add_argument("--fingerprint", metavar="HEX", help="one finding's fingerprint (the reports show it)")
    what.add_argument("--rule", metavar="ID", help="every finding of this rule id")
    w.add_argument("--reason", required=True, help="why this finding is acceptable")
    w.add_argument("--owner", required=True, help="who answers for it (an email)")
    w.add_argument("--expires", metavar="YYYY-MM-DD", help=f"the last day it applies (default: in {DEFAULT_DAYS} days)")
    w.add_argument("--glob", metavar="GLOB", help="only paths matching this glob (default: every path)")
    d = sub.add_parser(
        "doctor",
        help="check every tool and the runtime sandbox on this machine",
        description="List each tool airlock runs with its version and path, and whether the runtime sandbox can be "
        "built here, with the fix for each problem. Exit 0 when every required tool works, 1 otherwise.",
    )
    d.add_argument("--no-sandbox", action="store_true", help="skip building a test sandbox (tools only)")
    from airlock.pipeline.nightly_cmd import add_parsers

    add_parsers(sub, _Parser)
    return parser


def add_cache_options(parser: argparse.ArgumentParser) -> None:
    """--cache-dir and --no-cache, for every command that scans (scan, nightly)."""
    g = parser.add_argument_group("content cache (per-file results of semgrep, bandit and trivy-secret)")
    g.add_argument("--cache-dir", metavar="DIR", type=Path,
                   help="where results are kept between scans (default: $XDG_CACHE_HOME/airlock, ~/.cache/airlock)")
    g.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")


def cache_from_args(args: argparse.Namespace) -> DiskCache | None:
    """The cache the options ask for; UsageError (exit 2, one line) when the directory is unsafe or unusable."""
    if getattr(args, "no_cache", False):
        if getattr(args, "cache_dir", None) is not None:
            raise UsageError("--cache-dir and --no-cache contradict each other; pass one of them")
        return None
    explicit = getattr(args, "cache_dir", None)
    try:
        return open_cache(explicit)
    except UsageError as exc:
        if explicit is not None:
            raise
        # The default place being unusable (a read-only HOME in CI) costs speed, never the scan.
        print(f"airlock: warning: {clean(str(exc))}; scanning without the cache", file=sys.stderr)
        return None


def _stages(text: str | None, policy: Policy) -> tuple[str, ...]:
    if text is None:
        return policy.stages
    names = tuple(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))
    bad = [s for s in names if s not in STAGES]
    if bad or not names:
        raise UsageError(f"--stages: unknown stage {', '.join(bad) or '(none)'}; choose from {','.join(STAGES)}")
    return names


def _load_policy(args: argparse.Namespace, policy_dir: Path, root: Path, where: str) -> Policy:
    if args.config:
        policy = load_config_file(args.config)
    else:
        policy = _rules_from(load_repo_policy(file_reader(policy_dir), root, where), root, policy_dir)
    policy = with_trusted_tool_paths(policy)  # programs to run come only from --config, user config or env
    policy = with_project_venv(policy)  # the sandbox's toolchain: --config, else the invoker's $VIRTUAL_ENV
    if getattr(args, "fail_on", None):
        try:
            sev = Severity.parse(args.fail_on)
        except ValueError as exc:
            raise UsageError(f"--fail-on: {exc}") from None
        policy = replace(policy, gate=replace(policy.gate, fail_on=sev))
    if getattr(args, "online", False):
        if args.offline:
            raise UsageError("--online and --offline exclude each other: pick one")
        policy = replace(policy, agent=replace(policy.agent, online=True))
    return _with_image_options(args, policy)


def _rules_from(policy: Policy, root: Path, policy_dir: Path) -> Policy:
    """A repo policy's rule files are read where the policy was: in diff modes, the base copy in policy_dir."""
    if policy_dir.resolve() == root.resolve():
        return policy
    top = root.resolve()
    tools = {
        name: replace(cfg, rules=tuple(str(policy_dir / Path(r).relative_to(top)) for r in cfg.rules))
        for name, cfg in policy.tools.items()
    }
    return replace(policy, tools=tools)


def _with_image_options(args: argparse.Namespace, policy: Policy) -> Policy:
    """CLI images join the policy's; a CLI cache dir wins. CLI archives are the user's, not confined."""
    image = policy.image
    archives = tuple(str(p.resolve()) for p in getattr(args, "image_archive", None) or [])
    for a in archives:
        if not Path(a).exists():
            raise UsageError(f"--image-archive {a}: no such file or directory")
    cache_arg = getattr(args, "image_cache_dir", None)
    cache = str(cache_arg.resolve()) if cache_arg else image.cache_dir
    return replace(
        policy,
        image=replace(
            image,
            archives=tuple(dict.fromkeys((*image.archives, *archives))),
            refs=tuple(dict.fromkeys((*image.refs, *(getattr(args, "image", None) or [])))),
            cache_dir=cache,
        ),
    )


def _write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}; choose a writable output path") from None


def _write_sarif(path: Path, report: Report, limits: dict[str, int]) -> list[Path]:
    """Write SARIF within GitHub's upload limits: PATH, then PATH's stem + .part2, .part3, ... when split."""
    docs = SarifWriter().render_files(report, **limits)
    paths = [path] + [path.with_name(f"{path.stem}.part{n}{path.suffix}") for n in range(2, len(docs) + 1)]
    for p, text in zip(paths, docs, strict=True):
        _write(p, text)
    return paths


def _link_base(report: Report) -> str | None:
    """Where Markdown links point: the scanned head on GitHub, when running in GitHub Actions."""
    server, repo = os.environ.get("GITHUB_SERVER_URL"), os.environ.get("GITHUB_REPOSITORY")
    sha = report.target.head if report.target.head and len(report.target.head) == 40 else os.environ.get("GITHUB_SHA")
    if not (server and repo and sha):
        return None
    return f"{server.rstrip('/')}/{repo}/blob/{sha}"


def _emit(args: argparse.Namespace, report: Report, sarif_limits: dict[str, int] | None = None) -> None:
    # SARIF first: when it has to be split, every other report says so.
    sarif_targets = [p for p in (args.sarif_output, args.output if args.format == "sarif" else None) if p]
    for target in sarif_targets:
        written = _write_sarif(target, report, sarif_limits or {})
        if len(written) > 1:
            names = ", ".join(p.name for p in written)
            note = f"SARIF exceeded GitHub's upload limits and was split into {len(written)} files: {names}"
            report = replace(report, notes=(*report.notes, note))
    color = args.color == "always" or (
        args.color == "auto" and args.output is None and sys.stdout.isatty() and "NO_COLOR" not in os.environ
    )
    link_base = _link_base(report)
    if args.output is not None and args.format != "sarif":
        _write(args.output, writer_for(args.format, color=color, link_base=link_base).render(report))
    extra = (
        (args.json_output, "json"),
        (args.html_output, "html"),
        (args.markdown_output, "markdown"),
        (args.junit_output, "junit"),
        (getattr(args, "gitlab_sast_output", None), "gitlab-sast"),
    )
    for path, name in extra:
        if path is not None:
            _write(path, writer_for(name, link_base=link_base).render(report))
    if args.output is None and not getattr(args, "quiet", False):
        # Files first: after SIGHUP (or a CI runner going away) stdout may be gone, and the files must exist.
        try:
            sys.stdout.write(writer_for(args.format, color=color, link_base=link_base).render(report))
            sys.stdout.flush()
        except OSError as exc:
            with contextlib.suppress(OSError):
                print(f"airlock: cannot write the report to stdout: {exc.strerror}", file=sys.stderr)


def _progress(enabled: bool) -> tuple[AbstractContextManager[object], ProgressCallback | None]:
    """A live display on stderr when it is a terminal; nothing at all otherwise."""
    if not enabled or not sys.stderr.isatty() or os.environ.get("TERM") == "dumb":
        return nullcontext(), None
    from airlock.reports.progress import Progress

    display = Progress(sys.stderr)
    return display, display.on_event


def cmd_scan(args: argparse.Namespace) -> int:
    path = Path(args.path)
    if args.patch is not None and not args.patch.is_file():
        raise UsageError(f"--patch {args.patch}: no such file")
    cache = cache_from_args(args)
    # A base checkout for [runtime] compare_base: --config decides when given, else the base's own policy.
    full_base = load_config_file(args.config).runtime.compare_base if args.config else None
    with open_change(
        path, base=args.base, head=args.head, patch=args.patch, staged=args.staged, full_base=full_base
    ) as change:
        where = "from the base revision" if change.mode in ("diff", "staged") else ""
        policy = _load_policy(args, change.policy_dir or change.root, change.root, where)
        if args.run:
            policy = replace(policy, runtime=replace(policy.runtime, commands=tuple(args.run)))
        stages = _stages(args.stages, policy)
        outputs = [
            p
            for p in (args.output, args.json_output, args.sarif_output, args.html_output, args.markdown_output,
                      args.junit_output, args.gitlab_sast_output)
            if p is not None
        ]
        display, on_event = _progress(not args.quiet)
        options = ScanOptions(
            stages=stages,
            offline=args.offline,
            output_dir=outputs[0].resolve().parent if outputs else None,
            on_event=on_event,
            cache=cache,
        )
        with display:
            report = scan(change, policy, options)
    reason = proc.cancelled()
    if reason is not None:
        report = _incomplete(report, reason)
    if args.exit_zero and report.gate.verdict == "failed":
        note = "advisory mode (--exit-zero): the gate failed, and airlock exits 0"
        report = replace(report, notes=(*report.notes, note))
    _emit(args, report)
    code = report.gate.exit_code
    if args.quiet:
        counts = f"{len(report.gate.gating)} gating finding(s)" if report.gate.verdict == "failed" else ""
        why = counts or (clean(report.gate.reasons[0]) if report.gate.reasons else "")
        print(f"airlock: gate {report.gate.verdict}" + (f": {why}" if why else ""), file=sys.stderr)
    return 0 if args.exit_zero and code == 1 else code


def _incomplete(report: Report, reason: str) -> Report:
    """A scan cut short by a signal: whatever it found is reported, and it is never a verdict."""
    why = f"airlock was interrupted ({reason}): this report is incomplete, no verdict"
    gate = replace(report.gate, verdict="error", reasons=(why, *report.gate.reasons))
    return replace(report, gate=gate, notes=(why, *report.notes))


def _outputs_requested(args: argparse.Namespace) -> bool:
    return any(getattr(args, a, None) is not None for a in
               ("output", "json_output", "sarif_output", "html_output", "markdown_output", "junit_output",
                "gitlab_sast_output"))


def _emit_interrupted(args: argparse.Namespace, reason: str) -> None:
    """Interrupted before a scan could start: the requested outputs still say so, as an incomplete report."""
    command = getattr(args, "command", None)
    if command not in ("scan", "ci") or (command == "scan" and not _outputs_requested(args)):
        return
    if command == "ci":
        mode = "full" if args.full else "diff"
    else:
        mode = "diff" if args.base else "patch" if args.patch else "staged" if args.staged else "full"
    report = Report(
        airlock_version=__version__,
        generated_at=dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        target=Target(root=str(Path(args.path).resolve()), mode=mode, base=None, head=None, files=0),
        gate=GateResult("error", ()),
        stages=(),
        findings=(),
    )
    try:
        if command == "ci":
            from airlock.pipeline.ci import write_outputs

            write_outputs(_incomplete(report, reason), Path(args.output_dir), dict(os.environ))
        else:
            _emit(args, _incomplete(report, reason))
    except UsageError as exc:
        print(f"airlock: error: {exc}", file=sys.stderr)


def cmd_baseline_create(args: argparse.Namespace) -> int:
    path = Path(args.path)
    cache = cache_from_args(args)
    with open_change(path) as change:
        policy = _load_policy(args, change.policy_dir or change.root, change.root, "")
        options = ScanOptions(
            stages=_stages(args.stages, policy), offline=args.offline, read_baseline=False, cache=cache
        )
        display, on_event = _progress(True)
        with display:
            report = scan(change, policy, replace(options, on_event=on_event))
    if report.gate.errored_stages:
        first = next((s.error for s in report.stages if s.status == "error"), "a stage errored")
        raise UsageError(f"baseline not written: {first.splitlines()[0] if first else 'a stage errored'}")
    target = args.output or (path / BASELINE_FILE)
    own = [f for f in report.findings if not f.rule_id.startswith("agent.")]
    _write(target, render_baseline(own, report.generated_at))
    print(f"airlock: wrote {len(own)} finding(s) to {target}", file=sys.stderr)
    return 0


def cmd_waive(args: argparse.Namespace) -> int:
    from airlock.pipeline import waive

    if not (args.fingerprint or args.rule):
        raise UsageError("waive: name the finding with --fingerprint HEX (from the report) or --rule ID")
    repo = Path(args.path)
    if not repo.is_dir():
        raise UsageError(f"waive: {repo} is not a directory; give the repository's path")
    today = dt.datetime.now(dt.timezone.utc).date()
    text = waive.entry(reason=args.reason, owner=args.owner, expires=waive.expiry(args.expires, today),
                       fingerprint=args.fingerprint, rule=args.rule, path=args.glob)
    target = waive.default_file(repo)
    waive.add(target, text)
    print(f"airlock: added a waiver to {clean(str(target))}; commit it (to the base branch for diff scans)",
          file=sys.stderr)
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from airlock.pipeline import doctor
    from airlock.pipeline.policy import Policy

    checks = doctor.run_checks(with_trusted_tool_paths(Policy()), sandbox=not args.no_sandbox)
    sys.stdout.write(clean(doctor.render(checks), keep_newlines=True))
    return doctor.exit_code(checks)


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    """First signal: kill the tools, refuse new ones, let the scan finish its (partial) report.
    A second one stops at once; the with-blocks still remove every scratch dir on the way out."""
    first = proc.cancelled() is None
    proc.cancel(signal.Signals(signum).name)
    if not first:
        raise KeyboardInterrupt


def _install_handlers() -> dict[int, object]:
    previous: dict[int, object] = {}
    for sig in STOP_SIGNALS:
        try:
            previous[sig] = signal.signal(sig, _on_signal)
        except ValueError:  # not the main thread (embedded use)
            break
    return previous


def _restore_handlers(previous: dict[int, object]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    proc.reset_cancel()
    previous = _install_handlers()
    args: argparse.Namespace | None = None
    try:
        with scratch.run_root():
            args = parser.parse_args(argv)
            if args.command == "scan":
                return cmd_scan(args)
            if args.command == "ci":
                from airlock.pipeline.ci import cmd_ci

                return cmd_ci(args)
            if args.command == "baseline":
                if args.baseline_command == "create":
                    return cmd_baseline_create(args)
                raise UsageError("baseline: name a subcommand: airlock baseline create [PATH]")
            if args.command == "waive":
                return cmd_waive(args)
            if args.command == "doctor":
                return cmd_doctor(args)
            if args.command in ("nightly", "history"):
                from airlock.pipeline import nightly_cmd

                return nightly_cmd.cmd_nightly(args) if args.command == "nightly" else nightly_cmd.cmd_history(args)
            raise UsageError(
                "name a command: airlock scan, ci, baseline create, waive, doctor, nightly or history "
                "(see 'airlock --help')"
            )
    except UsageError as exc:
        print(f"airlock: error: {clean(str(exc))}", file=sys.stderr)  # one line, even with a hostile name in it
        return 2
    except proc.OutputTooLarge as exc:
        print(f"airlock: error: {clean(str(exc))}; no verdict", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, proc.Cancelled):
        proc.cancel("SIGINT")
        reason = proc.cancelled() or "SIGINT"
        if args is not None:
            _emit_interrupted(args, reason)
        print(f"airlock: interrupted ({reason}); no verdict", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - never a stack trace, never a pass
        proc.kill_all()
        if os.environ.get("AIRLOCK_DEBUG"):
            raise
        print(
            f"airlock: internal error: {type(exc).__name__}: {exc} (set AIRLOCK_DEBUG=1 for a trace)", file=sys.stderr
        )
        return 2
    finally:
        _restore_handlers(previous)


if __name__ == "__main__":
    raise SystemExit(main())
