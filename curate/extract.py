"""HTML → text: the ``extract`` stage.

resiliparse main-content extraction by default (DCLM-Baseline's choice: ``extract_plain_text(html,
main_content=True)``), trafilatura as an option (FineWeb's: ``favor_precision=True``,
``include_comments=False``, ``deduplicate=True``). The library is called with exactly the recipe's settings,
so the text is the text DCLM or FineWeb would get from the same page. ``method: curate`` is this project's
own: resiliparse's main content with a learned boilerplate pass over its blocks (:mod:`curate.extract_curate`),
close to trafilatura's precision at a fraction of its cost.

Documents that already have text (WET records, Parquet or JSONL inputs) pass through unchanged.
Guards: pages larger than ``max_html_bytes`` are dropped (``extract_too_large``) before parsing, and a page
whose extraction runs past ``timeout_s`` is dropped (``extract_timeout``) rather than stalling the shard.

A signal cannot interrupt a C extension, and resiliparse's main-content pass costs time quadratic in the
nesting depth (100 k nested ``<div>`` ran 443 s against a 30 s limit). So the page's nesting depth is
estimated first (:func:`exceeds_nesting_depth`: two ``str.count`` calls settle most pages); a page deeper than
``max_nesting_depth`` is extracted in a forked child process that is killed at ``timeout_s``, so the limit
holds on time. Browsers bound the DOM depth too (Chromium's parser stops nesting at 512), so real pages
almost never take that path, and a false alarm costs one fork, not the page.
"""

from __future__ import annotations

import multiprocessing
import re
import signal
import threading
from itertools import accumulate
from operator import sub
from typing import Literal

from curate.schema import Document
from curate.stage import Stage, register


class _Timeout(Exception):
    pass


def _on_alarm(signum, frame):  # noqa: ANN001
    raise _Timeout


class _TimeGuard:
    """Interrupt a call after ``seconds`` with SIGALRM (main thread only; elsewhere no guard).

    Ray runs a task's function on the worker's main thread, so the guard is active there. trafilatura and
    resiliparse offer no timeout of their own.
    """

    _installed = False

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.active = seconds > 0 and threading.current_thread() is threading.main_thread()
        if self.active and not _TimeGuard._installed:
            # Installed once per process (not per page: that costs more than the timer itself). The timer is
            # always disarmed on exit, so the handler can only fire inside a guarded call.
            signal.signal(signal.SIGALRM, _on_alarm)
            _TimeGuard._installed = True

    def __enter__(self) -> _TimeGuard:
        if self.active:
            signal.setitimer(signal.ITIMER_REAL, self.seconds)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.active:
            signal.setitimer(signal.ITIMER_REAL, 0)


#: Elements that never hold children (void) or whose end tag may be left out (the parser closes them):
#: neither can deepen the tree in a way an open/close count would see.
_NO_NESTING = (
    "area base br col embed hr img input link meta param source track wbr keygen command basefont frame "
    "p li dt dd option optgroup tr td th thead tbody tfoot colgroup caption rb rt rp html head body"
).split()
# One match per tag that can nest: the group is "" for an open tag and "/" for an end tag.
_NESTING_TAG = re.compile(r"(?i)<(/?)(?!(?:" + "|".join(_NO_NESTING) + r")[\s/>])[a-z]")
_STEP = {"": 1, "/": -1}
_RAW_TEXT = re.compile(r"(?is)<(script|style|textarea|title)\b.*?</\1\s*>")


def nesting_depth(html: str) -> int:
    """An upper estimate of the element nesting depth of ``html``: open tags minus closed ones, clamped at 0.

    Tags that cannot nest (void elements, elements with optional end tags) are not counted, nor script and
    style contents (``a<b`` in a script looks like a tag). The estimate may exceed the parser's depth on
    broken markup; it only routes a page to the killable path.
    """
    return _depth(_RAW_TEXT.sub("", html))


def exceeds_nesting_depth(html: str, limit: int) -> bool:
    """``nesting_depth(html) > limit``, cheaply: most pages are settled by two ``str.count`` calls."""
    if html.count("<") - html.count("</") <= limit:  # at most this many open tags, so no deeper
        return False
    return _depth(html) > limit and nesting_depth(html) > limit


def _depth(html: str) -> int:
    # The clamped running depth at each tag is the running sum minus its minimum so far (a stray end tag
    # cannot take the depth below zero). All C-level iterators: no Python call per tag.
    sums = list(accumulate(map(_STEP.__getitem__, _NESTING_TAG.findall(html)), initial=0))
    return max(map(sub, sums, accumulate(sums, min)))


def _child_extract(fn, html: str, conn) -> None:  # noqa: ANN001
    try:
        conn.send((True, fn(html)))
    except BaseException as e:  # noqa: BLE001 - reported to the parent as a failed page
        conn.send((False, repr(e)))
    finally:
        conn.close()


def run_killable(fn, html: str, timeout_s: float) -> str:  # noqa: ANN001
    """``fn(html)`` in a forked child, killed after ``timeout_s`` seconds (raises ``_Timeout``).

    Fork, not spawn: the child inherits the imported libraries, so a page costs a fork (~ms), not an import.
    """
    ctx = multiprocessing.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child_extract, args=(fn, html, send), daemon=True)
    proc.start()
    send.close()
    try:
        if not recv.poll(timeout_s if timeout_s > 0 else None):
            raise _Timeout
        ok, value = recv.recv()
    except EOFError:  # the child died without answering (a crash in the C extension)
        ok, value = False, "extraction process died"
    finally:
        recv.close()
        if proc.is_alive():
            proc.kill()
        proc.join()
    if not ok:
        raise RuntimeError(value)
    return value


def html_to_str(payload: bytes, http_charset: str | None = None) -> tuple[str, str]:
    """Decode an HTML payload (HTTP charset, then meta tag, then detection)."""
    from curate.io.charset import decode_html

    return decode_html(payload, http_charset)


def extract_resiliparse(html: str, main_content: bool = True) -> str:
    from resiliparse.extract.html2text import extract_plain_text

    return extract_plain_text(html, main_content=main_content)


def extract_trafilatura(
    html: str,
    favour_precision: bool = True,
    include_comments: bool = False,
    deduplicate: bool = True,
    fast: bool = False,
) -> str:
    import trafilatura

    out = trafilatura.extract(
        html,
        favor_precision=favour_precision,
        include_comments=include_comments,
        deduplicate=deduplicate,
        fast=fast,
    )
    return out or ""


@register("extract")
class Extract(Stage):
    """Extract main text from the HTML payload of WARC documents.

    Parameters:
        method: ``resiliparse`` (default, DCLM), ``trafilatura`` (FineWeb) or ``curate`` (resiliparse's main
            content without the blocks a small model calls boilerplate; see :mod:`curate.extract_curate`).
        main_content: resiliparse main-content heuristics (DCLM: true).
        favour_precision, include_comments, deduplicate: trafilatura options (FineWeb: true, false, true).
        trafilatura_fast: trafilatura without its fallback extractors (``fast=True``): ~1.4x faster here, but
            the text differs from FineWeb's on some pages (FineWeb: false).
        max_html_bytes: pages larger than this are dropped unparsed (``extract_too_large``).
        timeout_s: per-page time limit (``extract_timeout``); 0 disables.
        max_nesting_depth: pages whose estimated nesting depth (:func:`nesting_depth`) exceeds this are
            extracted in a child process killed at ``timeout_s`` (a C extension ignores the alarm signal).
        min_chars: drop pages whose extracted text is shorter (``extract_empty`` when 0 chars remain).

    Writes ``text``, ``charset`` and ``extractor``.
    """

    needs_text = False

    columns = ("charset", "extractor")

    def __init__(
        self,
        method: Literal["resiliparse", "trafilatura", "curate"] = "resiliparse",
        main_content: bool = True,
        favour_precision: bool = True,
        include_comments: bool = False,
        deduplicate: bool = True,
        trafilatura_fast: bool = False,
        max_html_bytes: int = 10 * 2**20,
        timeout_s: float = 30.0,
        max_nesting_depth: int = 2000,
        min_chars: int = 1,
    ) -> None:
        if max_html_bytes <= 0:
            raise ValueError("max_html_bytes must be positive")
        if max_nesting_depth <= 0:
            raise ValueError("max_nesting_depth must be positive")
        self.method = method
        self.main_content = main_content
        self.favour_precision = favour_precision
        self.include_comments = include_comments
        self.deduplicate = deduplicate
        self.trafilatura_fast = trafilatura_fast
        self.max_html_bytes = max_html_bytes
        self.timeout_s = timeout_s
        self.max_nesting_depth = max_nesting_depth
        self.min_chars = min_chars

    def requirements(self) -> tuple[str, ...]:
        # checked on the driver before any task starts (a broken trafilatura install is one clear error)
        return {"trafilatura": ("trafilatura",), "curate": ("resiliparse",)}.get(self.method, ("resiliparse",))

    def setup(self) -> None:
        if self.method == "trafilatura":
            import trafilatura  # noqa: F401  (fail early with the import error)
        elif self.method == "curate":
            import curate.extract_curate  # noqa: F401  (loads the model once per process)

    def start_shard(self) -> None:
        # trafilatura's deduplication keeps one process-wide cache of seen text segments: without a reset,
        # a shard's text would depend on which shards the same worker extracted before it.
        if self.method == "trafilatura":
            # reset_caches clears the dedup cache and trafilatura's other process-wide caches (one gc pass:
            # once per shard, not per page)
            from trafilatura.meta import reset_caches

            reset_caches()

    def extract(self, html: str) -> str:
        if self.method == "resiliparse":
            return extract_resiliparse(html, self.main_content)
        if self.method == "curate":
            from curate.extract_curate import extract_curate

            return extract_curate(html)
        return extract_trafilatura(
            html, self.favour_precision, self.include_comments, self.deduplicate, self.trafilatura_fast
        )

    def process(self, doc: Document) -> str | None:
        payload = doc.pop("_html", None)
        if payload is None:
            if doc.get("text") is None:
                return "extract_no_content"
            return None  # already text (WET, Parquet, JSONL)
        if len(payload) > self.max_html_bytes:
            return "extract_too_large"
        html, charset = html_to_str(payload, doc.get("charset"))
        try:
            if self.timeout_s > 0 and exceeds_nesting_depth(html, self.max_nesting_depth):
                text = run_killable(self.extract, html, self.timeout_s)
            else:
                with _TimeGuard(self.timeout_s):
                    text = self.extract(html)
        except _Timeout:
            return "extract_timeout"
        except Exception:  # a library failure on one page must not end the shard
            return "extract_failed"
        if not text or len(text.strip()) < self.min_chars:
            return "extract_empty"
        doc["text"] = text
        doc["charset"] = charset
        doc["extractor"] = self.method
        return None
