"""Damaged WARCs (issue 18, items 1, 2, 9): every damaged record a counted skip, every good record kept.

The damaged variants are built here from the committed real captures; a seeded fuzz test mutates them.
"""

from __future__ import annotations

import gzip
import random
import re
import zlib
from collections import Counter

import pytest
from _warcgen import DATA, gz, page, write
from fastwarc.warc import ArchiveIterator

from curate.io.warc import SKIP_REASONS, read_warc

CC = DATA / "cc-main-2020-34-excerpt.warc.gz"
IA = DATA / "ia-2008-crawl-excerpt.warc.gz"


def members(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of every gzip member."""
    out, pos = [], 0
    while pos < len(data):
        d = zlib.decompressobj(31)
        d.decompress(data[pos:])
        end = len(data) - len(d.unused_data)
        out.append((pos, end))
        pos = end
    return out


def record_spans(data: bytes) -> dict[str, tuple[int, int]]:
    """Record id -> (start, end) of its bytes in the file (its gzip member, or up to the next record)."""
    starts = [(r.stream_pos, r.record_id) for r in ArchiveIterator(_bytes_io(data), parse_http=False)]
    if data[:2] == b"\x1f\x8b":
        ends = {s: e for s, e in members(data)}
        return {rid: (s, ends[s]) for s, rid in starts}
    bounds = [s for s, _ in starts] + [len(data)]
    return {rid: (s, bounds[i + 1]) for i, (s, rid) in enumerate(starts)}


def _bytes_io(data: bytes):  # noqa: ANN202
    import io

    return io.BytesIO(data)


def reasons(docs: list[dict]) -> Counter:
    return Counter(d.get("_skip", "doc") for d in docs)


def biggest_response(data: bytes) -> tuple[str, int, int]:
    spans = record_spans(data)
    ids = [d["id"] for d in read_warc(str(CC), source="s") if "_skip" not in d]
    rid = max(ids, key=lambda i: spans[i][1] - spans[i][0])
    return (rid, *spans[rid])


# ------------------------------------------------------------------------------------ item 1: one bad byte


def test_one_corrupt_byte_costs_one_record(tmp_path):
    data = CC.read_bytes()
    full = list(read_warc(str(CC), source="s"))
    rid, start, end = biggest_response(data)  # a ~105 KB response, ~19 KB of deflate data
    assert end - start > 10_000
    bad = bytearray(data)
    bad[start + (end - start) // 2] ^= 0x55  # inside the deflate stream
    docs = list(read_warc(write(tmp_path, "bad.warc.gz", bytes(bad)), source="s"))
    assert reasons(docs) == {"doc": 15, "read_corrupt_record": 1}  # before the fix: 1 doc, then the file lost
    assert [d for d in docs if "_skip" not in d] == [d for d in full if d["id"] != rid]


# ------------------------------------------------------------------------------- item 2: damaged members


def test_reading_resumes_at_the_next_member(tmp_path):
    data = CC.read_bytes()
    full = [d for d in read_warc(str(CC), source="s")]
    spans = record_spans(data)
    order = [d["id"] for d in full]
    bad = bytearray(data)
    lost = {order[3], order[9]}
    for rid in lost:  # a wrecked gzip header, and a run of zeros across one member's data
        s, e = spans[rid]
        bad[s : s + 4] = b"\x00\x00\x00\x00"
    s, e = spans[order[12]]
    bad[s + 200 : e - 200] = bytes(e - s - 400)
    lost.add(order[12])
    docs = list(read_warc(write(tmp_path, "bad.warc.gz", bytes(bad)), source="s"))
    assert [d for d in docs if "_skip" not in d] == [d for d in full if d["id"] not in lost]
    assert reasons(docs)["read_corrupt_record"] == 3


def test_each_damaged_member_of_a_run_is_counted(tmp_path):
    data = CC.read_bytes()
    full = list(read_warc(str(CC), source="s"))
    spans = record_spans(data)
    ids = [full[i]["id"] for i in (4, 5, 6)]  # three responses in a row, with their metadata and requests
    first, last = spans[ids[0]][0], spans[ids[-1]][1]
    bad = bytearray(data)
    for s, e in members(data):
        if first <= s < last:  # every member from the 5th response to the 7th: headers intact, data zeroed
            bad[s + 60 : e - 20] = bytes(e - s - 80)
    docs = list(read_warc(write(tmp_path, "run.warc.gz", bytes(bad)), source="s"))
    assert [d for d in docs if "_skip" not in d] == [d for d in full if d["id"] not in ids]
    lost = sum(first <= s < last for s, _ in members(data))
    assert reasons(docs)["read_corrupt_record"] == lost  # one per damaged member (3 responses + 4 others)


def test_damaged_first_member_and_garbage_between_members(tmp_path):
    data = CC.read_bytes()
    full = list(read_warc(str(CC), source="s"))
    first_end = members(data)[0][1]  # the warcinfo record
    damaged = b"\x1f\x8b\x08\x00" + b"\xff" * (first_end - 4) + data[first_end:]
    docs = list(read_warc(write(tmp_path, "a.warc.gz", damaged), source="s"))
    assert [d for d in docs if "_skip" not in d] == full
    spans = record_spans(data)
    s, _ = spans[full[5]["id"]]
    junk = data[:s] + b"not gzip at all\r\n" * 100 + data[s:]
    docs = list(read_warc(write(tmp_path, "b.warc.gz", junk), source="s"))
    assert [d for d in docs if "_skip" not in d] == full
    assert reasons(docs)["read_corrupt_record"] == 1


def test_plain_warc_resumes_at_the_next_record(tmp_path):
    plain = gzip.decompress(CC.read_bytes())
    full = list(read_warc(str(CC), source="s"))
    spans = record_spans(plain)
    s, e = spans[full[4]["id"]]
    bad = plain[:s] + b"WARC/1.0\r\nContent-Length: banana\r\n\r\n" + plain[s + 40 :]
    docs = list(read_warc(write(tmp_path, "p.warc", bad), source="s"))
    kept = [d["id"] for d in docs if "_skip" not in d]
    assert kept == [d["id"] for d in full if d["id"] != full[4]["id"]]


# ------------------------------------------------------------------------------------------- seeded fuzz

_FUZZ_FILES = [CC, IA]


def _mutate(rng: random.Random, data: bytes, spans: list[tuple[int, int]]) -> tuple[bytes, int]:
    """One damage (flip, zeros, cut, insertion, deletion, wrecked member header); returns (bytes, offset)."""
    kind = rng.choice(["flip", "flip", "zeros", "cut", "insert", "delete", "header", "flips", "length"])
    o = rng.randrange(len(data))
    if kind == "flip":
        return data[:o] + bytes([data[o] ^ rng.randrange(1, 256)]) + data[o + 1 :], o
    if kind == "flips":
        b = bytearray(data)
        offs = sorted(rng.randrange(len(data)) for _ in range(rng.randint(2, 6)))
        for p in offs:
            b[p] ^= rng.randrange(1, 256)
        return bytes(b), offs[0]
    if kind == "zeros":
        n = rng.randint(1, 4096)
        return data[:o] + bytes(min(n, len(data) - o)) + data[o + n :], o
    if kind == "cut":
        return data[:o], o
    if kind == "insert":
        junk = rng.choice([rng.randbytes(rng.randint(1, 300)), b"WARC/1.0\r\n", b"\x1f\x8b\x08\x00", b"\r\n\r\n"])
        return data[:o] + junk + data[o:], o
    if kind == "delete":
        return data[:o] + data[o + rng.randint(1, 2000) :], o
    if kind == "length" and len(spans) > 1:  # a record's Content-Length rewritten (re-gzipped if need be)
        s, e = rng.choice(spans)
        gzipped = data[s : s + 2] == b"\x1f\x8b"
        rec = gzip.decompress(data[s:e]) if gzipped else data[s:e]
        n = rng.choice([0, 1, rng.randrange(10**6), 10**12, -5])
        rec = re.sub(rb"Content-Length: *-?\d+", b"Content-Length: %d" % n, rec, count=1)
        return data[:s] + (gzip.compress(rec, mtime=0) if gzipped else rec) + data[e:], s
    s, _ = rng.choice(spans)  # "header": the first bytes of a record (its gzip header or WARC/ line)
    n = rng.randint(1, 12)
    return data[:s] + rng.randbytes(n) + data[s + n :], s


@pytest.mark.parametrize("path", _FUZZ_FILES, ids=lambda p: p.name)
@pytest.mark.parametrize("compressed", [True, False], ids=["gz", "plain"])
def test_fuzzed_warcs_never_raise_and_keep_every_record_before_the_damage(tmp_path, path, compressed):
    data = path.read_bytes() if compressed else gzip.decompress(path.read_bytes())
    name = "f.warc.gz" if compressed else "f.warc"
    full = list(read_warc(write(tmp_path, name, data), source="s"))
    span_of = record_spans(data)
    ends = [span_of[d["id"]][1] for d in full]
    spans = sorted(span_of.values())
    rng = random.Random(f"{path.name}-{compressed}")
    kept_total = 0
    for _ in range(150):
        bad, offset = _mutate(rng, data, spans)
        docs = list(read_warc(write(tmp_path, name, bad), source="s"))  # no exception escapes
        intact = sum(e <= offset for e in ends)  # records wholly before the damage point
        assert docs[:intact] == full[:intact], (offset, intact)
        assert len(docs) <= len(spans) + 2  # at most one document or skip per record (all types)
        for d in docs:
            assert d.get("_skip", "read_corrupt_record") in SKIP_REASONS
            if "_skip" not in d:
                assert isinstance(d["_html"], bytes) and d["source"] == "s"
        kept_total += sum("_skip" not in d for d in docs)
    # damage costs only what it touches: most documents survive (the cuts take their tails)
    assert kept_total > 0.5 * 150 * sum("_skip" not in d for d in full)


# ------------------------------------------------------------------------- item 9: slightly damaged headers


def _headers_damaged(record: bytes, how: str) -> bytes:
    n = re.search(rb"Content-Length: \d+\r\n", record).group(0)
    if how == "duplicate-length":
        return record.replace(n, n + n, 1)
    if how == "no-version":
        return record.replace(b"WARC/1.0\r\n", b"", 1)
    if how == "wrong-version":
        return record.replace(b"WARC/1.0\r\n", b"WARC/1.O\r\n", 1)
    if how == "unreadable":  # a WARC header that never ends: nothing to read
        return record.replace(b"WARC/1.0\r\n", b"", 1).replace(b"\r\n\r\n", b"\r\n")
    raise ValueError(how)


@pytest.mark.parametrize(
    "how,compressed",
    [(how, gz) for how in ("duplicate-length", "no-version", "wrong-version") for gz in (True, False)],
)
def test_slightly_damaged_warc_header_is_read(tmp_path, how, compressed):
    recs = [page(b"<html><p>page %d</p></html>" % i, url=f"http://example.com/{i}") for i in range(3)]
    recs[1] = _headers_damaged(recs[1], how)
    data = gz(*recs) if compressed else b"".join(recs)
    docs = list(read_warc(write(tmp_path, "h.warc.gz" if compressed else "h.warc", data)))
    assert [d["url"] for d in docs] == [f"http://example.com/{i}" for i in range(3)]  # was: page 1 missing
    assert [d["_html"] for d in docs] == [b"<html><p>page %d</p></html>" % i for i in range(3)]
    assert docs[1]["id"].startswith("<urn:uuid:")


def test_unreadable_warc_header_is_counted(tmp_path):
    recs = [page(b"<html><p>page %d</p></html>" % i, url=f"http://example.com/{i}") for i in range(3)]
    recs[1] = _headers_damaged(recs[1], "unreadable")
    docs = list(read_warc(write(tmp_path, "h.warc.gz", gz(*recs))))
    assert [d.get("_skip") for d in docs] == [None, "read_malformed_record", None]  # was: silently gone
    assert [docs[0]["url"], docs[2]["url"]] == ["http://example.com/0", "http://example.com/2"]


def test_damaged_header_in_a_real_crawl(tmp_path):
    data = CC.read_bytes()
    full = list(read_warc(str(CC), source="s"))
    s, e = record_spans(data)[full[7]["id"]]
    member = gzip.decompress(data[s:e])
    n = re.search(rb"Content-Length: \d+\r\n", member).group(0)
    bad = gzip.compress(member.replace(b"WARC/1.0\r\n", b"", 1).replace(n, n + n), mtime=0)
    docs = list(read_warc(write(tmp_path, "h.warc.gz", data[:s] + bad + data[e:]), source="s"))
    assert docs == full


@pytest.mark.parametrize("compressed", [True, False], ids=["gz", "plain"])
def test_fuzzed_arc_never_raises(tmp_path, compressed):
    raw = (DATA / "ia-2008-crawl-excerpt.arc.gz").read_bytes()
    data = raw if compressed else gzip.decompress(raw)
    name = "f.arc.gz" if compressed else "f.arc"
    full = list(read_warc(write(tmp_path, name, data), source="s"))
    rng = random.Random(f"arc-{compressed}")
    for _ in range(100):
        bad, offset = _mutate(rng, data, [(0, 1)])
        docs = list(read_warc(write(tmp_path, name, bad), source="s"))  # no exception escapes
        assert len(docs) <= 2 * len(full) + 2
        assert all(d.get("_skip", "read_corrupt_record") in SKIP_REASONS for d in docs)
