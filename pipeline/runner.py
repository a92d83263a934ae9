"""The stage runner: applicable scanners run concurrently, each bounded by its own timeout."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace

from airlock.pipeline import proc
from airlock.pipeline.models import ScanResult, ToolStatus
from airlock.scanners.interface import ScanContext, Scanner

_WAKE_S = 0.1

# on_event(tool, stage, label, state): state is "running" when a job starts, else its ToolStatus value.
ProgressCallback = Callable[[str, str, str, str], None]


@dataclass(frozen=True)
class Job:
    scanner: Scanner
    ctx: ScanContext
    label: str = "head"  # "head", or "base" for the diff-aware comparison run


def _run_one(job: Job) -> ScanResult:
    """One job, timed here so no adapter has to time itself."""
    start = time.monotonic()
    try:
        targets = job.scanner.targets(job.ctx)
        if not targets:
            # Not an error: the status says it all, and writers label it "skipped", never "error:".
            return ScanResult(job.scanner.name, job.scanner.stage, ToolStatus.SKIPPED)
        result = job.scanner.run(job.ctx, targets)
        return replace(result, duration_s=time.monotonic() - start)
    except proc.Cancelled:
        return _interrupted(job, time.monotonic() - start)
    except proc.OutputTooLarge as exc:
        return ScanResult(
            job.scanner.name, job.scanner.stage, ToolStatus.ERROR, duration_s=time.monotonic() - start,
            error=f"{exc}; its result cannot be trusted",
        )  # fmt: skip
    except Exception as exc:  # noqa: BLE001 - an adapter bug is a stage error, never a crash or a pass
        return ScanResult(
            job.scanner.name,
            job.scanner.stage,
            ToolStatus.ERROR,
            duration_s=time.monotonic() - start,
            error=f"internal error in the {job.scanner.name} adapter: {type(exc).__name__}: {exc}",
        )


def _interrupted(job: Job, duration_s: float = 0.0) -> ScanResult:
    return ScanResult(
        job.scanner.name, job.scanner.stage, ToolStatus.ERROR, duration_s=duration_s,
        error=f"interrupted ({proc.cancelled() or 'signal'}): {job.scanner.name} did not finish",
    )  # fmt: skip


def _notify(on_event: ProgressCallback | None, job: Job, state: str) -> None:
    if on_event is None:
        return
    try:
        on_event(job.scanner.name, job.scanner.stage, job.label, state)
    except Exception:  # noqa: BLE001, S110 - a display problem must never change a scan's outcome
        pass


def run_jobs(jobs: Sequence[Job], on_event: ProgressCallback | None = None) -> list[ScanResult]:
    """Results in the order of jobs. Subprocess timeouts bound every job, so this always returns.

    On an interrupt (a signal sets proc.cancel; a KeyboardInterrupt here does the same) every tool is
    killed and each unfinished job becomes an error result: the caller still gets a partial report.
    """
    if not jobs:
        return []

    def one(job: Job) -> ScanResult:
        _notify(on_event, job, "running")
        result = _run_one(job)
        _notify(on_event, job, result.status.value)
        return result

    pool = ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="airlock-scan")
    futures: list[Future[ScanResult]] = []
    try:
        futures = [pool.submit(one, job) for job in jobs]
        # Wake up now and then: a signal the kernel hands to a worker thread only runs its Python handler
        # once the main thread executes bytecode, and a lock wait without a timeout never returns for it.
        while wait(futures, timeout=_WAKE_S).not_done:
            pass
    except BaseException:  # KeyboardInterrupt: take the tools down, then the workers return promptly
        proc.cancel("SIGINT")
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return [
        f.result() if f.done() and not f.cancelled() and f.exception() is None else _interrupted(job)
        for job, f in zip(jobs, futures, strict=True)
    ]
