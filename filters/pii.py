"""PII masking: e-mail addresses, phone numbers, IP addresses."""

from __future__ import annotations

import ipaddress
import re
from itertools import cycle

import xxhash

from curate.schema import Document
from curate.stage import Stage, register

_EMAIL = r"(?<![\w.+-])[\w.+-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}(?![\w-])"
# Phone numbers need separators between their groups (or a parenthesised area code), so that bare runs of
# digits (ids, amounts, dates) stay. North American: (555) 123-4567, (555)-123-4567, (555)123-4567,
# 555-123-4567, 555.123.4567, 555 123 4567, +1 555 123 4567, 1-800-555-0199.
_SEP = r"[-.\s]"
_PHONE_NA = rf"(?:\+?1{_SEP}?)?(?:\(\d{{3}}\){_SEP}?|\d{{3}}{_SEP})\d{{3}}{_SEP}\d{{4}}"
# International: "+" or "00", a country code, an optional "(0)" or parenthesised area code, then 2-5 groups
# of digits (at most 8 each) separated by space, dot or dash: +45 12345678, +44 20 7946 0958, +49 (0)30 1234567, +33 1 23 45 67 89,
# +91-98765-43210, 0049 30 1234 5678, +86 (10) 1234 5678.
_PHONE_INTL = (
    rf"(?:\+|\b00)\d{{1,3}}(?=(?:[-.\s()]*\d){{6}})"  # and at least 6 more digits
    rf"(?:{_SEP}?\(\d{{1,4}}\){_SEP}?\d{{1,8}}(?:{_SEP}\d{{1,8}}){{0,4}}|(?:{_SEP}\d{{1,8}}){{1,5}})"
)
_PHONE = rf"(?<![\w+]){_PHONE_INTL}(?![\w-])|(?<![\w+]){_PHONE_NA}(?![\w-])"
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = rf"(?<![\w.]){_OCTET}(?:\.{_OCTET}){{3}}(?![\w]|\.[0-9])"
# Candidates only; ipaddress validates (so times like 12:30:45 are left alone).
_IPV6 = r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])"

# datatrove's PIIFormatter (FineWeb), written out: the general RFC 5322 address (dot-atoms of the
# printable specials, a domain of hyphenated labels or a bracketed IPv4 / tagged literal), and a dotted quad
# with no boundary checks at all ("1234.5.6.7" hides "234.5.6.7"), octets with up to one leading zero.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_DT_OCTET = r"(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)"
_DT_EMAIL = (
    rf"\b{_ATOM}(?:\.{_ATOM})*@(?:(?:{_LABEL}\.)+{_LABEL}"
    rf"|\[(?:{_DT_OCTET}\.){{3}}(?:{_DT_OCTET}|[A-Za-z0-9-]*[A-Za-z0-9]:)])"
)
_DT_IPV4 = rf"(?:{_DT_OCTET}\.){{3}}{_DT_OCTET}"
KINDS = ("email", "phone", "ip")


@register("pii")
class PiiMasker(Stage):
    """Replace e-mail addresses, phone numbers and IP addresses with placeholders. Never drops.

    Writes ``pii_email``, ``pii_phone``, ``pii_ip`` (replacements of each kind) and ``pii_count`` (their sum).

    Parameters:
        email / phone / ip: the placeholder (Dolma's ``|||EMAIL_ADDRESS|||`` style by default), or a list of
            placeholders used in turn (datatrove's replacement tuples); ``null`` leaves that kind unmasked.
            datatrove cycles through the list across the documents a worker happens to see; here the turn
            starts at a position derived from the document's id, so the output does not depend on which
            worker ran which shard, or in what order.
        public_ips_only: mask only public IPs (FineWeb: private, loopback, link-local addresses stay).
        rules: ``curate`` (the patterns above: word-bounded e-mails and IPv4, IPv6, North-American and
            international phone numbers, one pass) or ``datatrove`` (FineWeb's ``PIIFormatter``: its RFC 5322
            e-mail pattern, then its IPv4 pattern with no boundaries, on the e-mail-masked text; no IPv6;
            phones, when set, with curate's pattern after both).
    """

    columns = ("pii_count", "pii_email", "pii_phone", "pii_ip")

    def __init__(
        self,
        email: str | list[str] | None = "|||EMAIL_ADDRESS|||",
        phone: str | list[str] | None = "|||PHONE_NUMBER|||",
        ip: str | list[str] | None = "|||IP_ADDRESS|||",
        public_ips_only: bool = False,
        rules: str = "curate",
    ) -> None:
        if rules not in ("curate", "datatrove"):
            raise ValueError("rules must be 'curate' or 'datatrove'")
        given = {"email": email, "phone": phone, "ip": ip}
        for k, v in given.items():
            if isinstance(v, list) and not v:
                raise ValueError(f"{k}: an empty list of placeholders")
        self.email, self.phone, self.ip = email, phone, ip
        self.public_ips_only = public_ips_only
        self.rules = rules
        self._choices = {k: [v] if isinstance(v, str) else list(v) for k, v in given.items() if v is not None}
        patterns = {"email": _EMAIL, "ip": f"{_IPV4}|{_IPV6}", "phone": _PHONE}
        if rules == "curate":
            alts = [f"(?P<{k}>{patterns[k]})" for k in ("email", "ip", "phone") if given[k] is not None]
            self._passes = [re.compile("|".join(alts))] if alts else []
        else:
            dt = {"email": _DT_EMAIL, "ip": _DT_IPV4, "phone": _PHONE}
            self._passes = [re.compile(f"(?P<{k}>{dt[k]})") for k in KINDS if given[k] is not None]

    def _sub(self, m: re.Match) -> str:
        kind = m.lastgroup or ""
        s = m.group(0)
        if kind == "ip":
            try:
                addr = ipaddress.ip_address(s)
            except ValueError:
                return s
            if self.public_ips_only and not addr.is_global:
                return s
        self._counts[kind] += 1
        return next(self._next[kind])

    def process(self, doc: Document) -> str | None:
        self._counts = dict.fromkeys(KINDS, 0)
        start = xxhash.xxh64_intdigest(str(doc.get("id", "")).encode("utf-8", "surrogatepass"))
        self._next = {k: cycle(v[start % len(v) :] + v[: start % len(v)]) for k, v in self._choices.items()}
        text = doc["text"]
        for rx in self._passes:
            text = rx.sub(self._sub, text)
        if text != doc["text"]:
            doc["text"] = text
        for k in KINDS:
            doc[f"pii_{k}"] = self._counts[k]
        doc["pii_count"] = sum(self._counts.values())
        return None
