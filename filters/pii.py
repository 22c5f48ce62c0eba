"""PII masking: e-mail addresses, phone numbers, IP addresses."""

from __future__ import annotations

import ipaddress
import re

from curate.schema import Document
from curate.stage import Stage, register

_EMAIL = r"(?P<email>(?<![\w.+-])[\w.+-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}(?![\w-]))"
# North American: (555) 123-4567, 555-123-4567, 555.123.4567, +1 555 123 4567. Separators are required
# between groups (or a parenthesised area code) so that bare 10-digit numbers (ids, amounts) stay.
_PHONE_NA = r"(?:\+?1[-.\s]?)?(?:\(\d{3}\)\s?|\d{3}[-.\s])\d{3}[-.\s]\d{4}"
# International: a leading + and country code, then 2-5 groups of digits separated by space, dot or dash.
_PHONE_INTL = r"\+\d{1,3}(?:[-.\s]?\(\d{1,4}\))?(?:[-.\s]\d{1,5}){2,5}"
_PHONE = rf"(?P<phone>(?<![\w+])(?:{_PHONE_INTL}|{_PHONE_NA})(?![\w-]))"
_IPV4 = r"(?P<ipv4>(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\w]|\.\d))"
# Candidates only; ipaddress validates (so times like 12:30:45 are left alone).
_IPV6 = r"(?P<ipv6>(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:]))"


@register("pii")
class PiiMasker(Stage):
    """Replace e-mail addresses, phone numbers and IPv4/IPv6 addresses with placeholders. Never drops.

    Writes ``pii_count`` (number of replacements). A ``null`` placeholder leaves that kind unmasked.

    Parameters:
        email / phone / ip: placeholder strings (Dolma's ``|||EMAIL_ADDRESS|||`` style by default).
        public_ips_only: mask only public IPs (FineWeb: private, loopback, link-local addresses stay).
    """

    columns = ("pii_count",)

    def __init__(
        self,
        email: str | None = "|||EMAIL_ADDRESS|||",
        phone: str | None = "|||PHONE_NUMBER|||",
        ip: str | None = "|||IP_ADDRESS|||",
        public_ips_only: bool = False,
    ) -> None:
        self.placeholders = {"email": email, "phone": phone, "ipv4": ip, "ipv6": ip}
        self.public_only = public_ips_only
        parts = [p for k, p in (("email", _EMAIL), ("ipv4", _IPV4), ("ipv6", _IPV6), ("phone", _PHONE))
                 if self.placeholders[k] is not None]
        self._re = re.compile("|".join(parts)) if parts else None

    def _sub(self, m: re.Match) -> str:
        kind = m.lastgroup or ""
        s = m.group(0)
        if kind in ("ipv4", "ipv6"):
            try:
                addr = ipaddress.ip_address(s)
            except ValueError:
                return s
            if self.public_only and not addr.is_global:
                return s
        self._count += 1
        return self.placeholders[kind] or s

    def process(self, doc: Document) -> str | None:
        self._count = 0
        if self._re is not None:
            text = doc["text"]
            new = self._re.sub(self._sub, text)
            if self._count:
                doc["text"] = new
        doc["pii_count"] = self._count
        return None
