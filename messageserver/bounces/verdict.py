"""Hard or soft: the one rule that decides whether a failure should cost a member quickly.

Hard means the address itself is wrong and retrying cannot help: user unknown, host
unknown, has moved, the domain accepts no mail (the reasons Sisimai calls
userunknown, hostunknown, hasmoved and notaccept). Everything else (mailbox full,
policy, spam, blocked, expired, ...) is soft, because it can heal by itself.

The server's words win over its status code: servers send "550 5.1.1" for a full
mailbox or a spam filter often enough that the code alone misleads; when the words
say nothing we know, the enhanced status code (RFC 3463) or the SMTP reply decides.
"""

from __future__ import annotations

import re

# Known phrasings whose words sound soft but mean "no such user": Microsoft 365's
# directory-based edge blocking answers "5.4.1 Recipient address rejected: Access denied".
_DISGUISED_HARD: tuple[tuple[str, str], ...] = (
    ("userunknown", r"5\.4\.1 .{0,80}recipient address rejected: access denied"),
)

# Soft reasons that are specific enough to beat any "user unknown"-ish boilerplate
# ("mailbox unavailable" next to "mailbox full" is about the full mailbox).
_STRONG_SOFT_PATTERNS: tuple[tuple[str, str], ...] = (
    ("rejected", r"sender (address |domain )?(rejected|refused|denied|verify|not allowed)|"
                 r"domain of sender|unroutable sender|sender rejected|after mail from|"
                 r"invalid sender|sender (domain )?(does not exist|unknown)"),
    ("mailboxfull", r"mailbox (is )?full|mailbox full|over ?quota|quota (exceeded|full)|"
                    r"exceeded (the )?(storage|quota)|(storage|disk) (is )?full|"
                    r"insufficient (system )?storage|mailfolder is full|"
                    r"is over (its|the|his|her) (storage|quota)|mailbox size limit|"
                    r"too much mail|account is full|user is over|exceeds? (the )?mailbox|"
                    r"not enough (disk )?space|mailbox has exceeded|quota"),
    ("mesgtoobig", r"message (is )?too (big|large)|exceeds? (the )?(maximum )?(message )?size|"
                   r"size limit|message size exceeds|too large"),
    ("norelaying", r"relay(ing)? (access )?(denied|not permitted|prohibited)|"
                   r"not permitted to relay|unable to relay|no relaying|relay not|"
                   r"not allowed to relay|we do not relay"),
    ("authfailure", r"\bspf\b|\bdkim\b|\bdmarc\b|authentication fail|not authenticated|"
                    r"sender policy framework"),
    ("spamdetected", r"\bspam\b|junk mail|unsolicited|bulk mail|content rejected"),
    ("virusdetected", r"virus|malware|infected"),
    ("suspend", r"(account|mailbox|user|address) (has been |is )?(suspended|disabled|"
                r"deactivated|locked|closed|frozen)|extended inactivity|"
                r"not currently being accepted"),
    ("blocked", r"\bdnsbl\b|\brbl\b|spamhaus|spamcop|"
                r"poor reputation|client host rejected|connection rejected|"
                r"my name was rejected|helo command rejected"),
    ("networkerror", r"(host|domain) not found, try again|name service error[^\n]{0,120}try again|"
                     r"temporary (dns|lookup) fail"),
)

# Vaguer soft words: only when nothing says the address itself is wrong.
_SOFT_PATTERNS: tuple[tuple[str, str], ...] = (
    ("suspend", r"suspended|disabled|deactivated|inactive|is not active|on hold"),
    ("filtered", r"user reject|rejected by (the )?recipient|recipient rejected your|"
                 r"filtered|refuses? to accept|does not accept mail from|denied by user"),
    ("requireptr", r"reverse (dns|lookup)|\bptr\b|no rdns|cannot find your hostname|rdns"),
    ("blocked", r"black ?list|block ?list|blocked|banned|listed (in|at|on)|access denied|reputation|"
                r"not allowed|refused|denied"),
    ("speeding", r"rate limit|too many (messages|recipients|connections)|throttl|"
                 r"try again later|exceeded[^\n]{0,80}(limit|rate)"),
    ("policyviolation", r"policy|prohibited|not (permitted|authorized)"),
    ("expired", r"retry time|too long|time ?out|timed out|expired|given up|giving up|"
                r"could not be delivered (with|within)|queue"),
    ("networkerror", r"connection refused|network|unreachable|no route|dns|lookup fail|"
                     r"mail loop|loops back|too many hops|hop count"),
    ("systemerror", r"system error|internal error|local error|temporar|server error|"
                    r"i/o error|out of memory|resources|config error"),
    ("syntaxerror", r"syntax error|command unrecognized|bad sequence"),
)

# The address itself is wrong.
_HARD_PATTERNS: tuple[tuple[str, str], ...] = (
    ("hasmoved", r"has moved|address (has )?changed|no longer (valid|in use|available|"
                 r"with|at|employed)|not (with|at) (this|the) (company|organi[sz]ation)"),
    ("hostunknown", r"host (or domain name )?(not found|unknown)|unknown host|"
                    r"domain (not found|does not exist|unknown|name not found)|no such domain|"
                    r"unrouteable|unroutable|name or service not known|nxdomain|"
                    r"no (mx|mail exchanger)|host not found|unknown domain|"
                    r"domain (is )?(invalid|not (valid|exist))|invalid domain|"
                    r"not our domain|no such host|unresolvable|bad destination system|"
                    r"domain (is )?not reachable"),
    ("notaccept", r"does not accept (any )?(e-?)?mail|null mx|accepts no mail|"
                  r"not accepting (any |network )?(mail|messages)|no mail service"),
    ("userunknown", r"user(name)? (is )?unknown|unknown (user|recipient|address|local|mailbox|"
                    r"e-?mail)|no such (user|mailbox|recipient|address|account|person|local)|"
                    r"(user|recipient|mailbox|address|account|addressee)( name)? "
                    r"(does not|doesn'?t|did not) exist|does not exist|doesn'?t exist|"
                    r"not exist|(user|recipient|mailbox|address|account)( name)? "
                    r"(was |is )?(not found|unknown|not known|invalid|not valid|"
                    r"not recognized|unavailable|not available)|"
                    r"invalid (recipient|user|mailbox|address|e-?mail)|"
                    r"not a (valid|known) (user|mailbox|recipient)|no mailbox|"
                    r"mailbox (not found|unavailable|does not|is not|not exist|invalid)|"
                    r"not listed in|no account|"
                    r"unknown or illegal alias|no valid recipients|bad (address|recipient|"
                    r"destination mailbox)|undeliverable address|"
                    r"is not a valid|name is not recognized|addressee unknown|"
                    r"mailbox unavailable|user not|account (unavailable|not)|"
                    r"invalid address|not our customer|doesn'?t have an? [^\n]{0,60} account|"
                    r"not a valid mailbox|unknown$|no such|not found|(could ?n[o']t|cannot|can't) be found|"
                    r"inactive (e-?mail )?address|"
                    r"\u30ea\u30b9\u30c8\u306b\u3042\u308a\u307e\u305b\u3093"),
)

_DISGUISED = tuple((name, re.compile(rx, re.I)) for name, rx in _DISGUISED_HARD)
_STRONG_SOFT = tuple((name, re.compile(rx, re.I)) for name, rx in _STRONG_SOFT_PATTERNS)
_SOFT = tuple((name, re.compile(rx, re.I)) for name, rx in _SOFT_PATTERNS)
_HARD = tuple((name, re.compile(rx, re.I)) for name, rx in _HARD_PATTERNS)
HARD_REASONS = frozenset({"userunknown", "hostunknown", "hasmoved", "notaccept"})

# Enhanced status codes (RFC 3463) that name the address itself as wrong.
_HARD_STATUSES = {"5.1.1": "userunknown", "5.1.0": "userunknown", "5.1.3": "userunknown",
                  "5.1.2": "hostunknown", "5.4.4": "hostunknown", "5.1.6": "hasmoved",
                  "5.1.10": "notaccept", "5.3.2": "notaccept", "5.4.1": "userunknown", "5.1.4": "userunknown"}
_SOFT_STATUSES = {"5.2.2": "mailboxfull", "4.2.2": "mailboxfull", "5.2.1": "suspend",
                  "5.3.4": "mesgtoobig", "5.2.3": "exceedlimit", "5.7.1": "rejected",
                  "5.1.8": "rejected", "5.1.7": "rejected", "5.4.6": "networkerror"}

STATUS_RE = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
REPLY_RE = re.compile(r"(?<![\d.\-])([245]\d\d)(?:[ \-]|$)")


def find_status(text: str) -> str | None:
    """The first RFC 3463 enhanced status code in ``text`` (not x.0.0 if a better one follows)."""
    codes = [".".join(m.groups()) for m in STATUS_RE.finditer(text or "")]
    if not codes:
        return None
    for code in codes:
        if not code.endswith(".0.0"):
            return code
    return codes[0]


def reason_for(status: str | None, diagnostic: str | None) -> str:
    """Sisimai-style reason name for a failure (``"undefined"`` when nothing says)."""
    text = " ".join((diagnostic or "").split())
    if text:
        for patterns in (_DISGUISED, _STRONG_SOFT, _HARD, _SOFT):
            for name, rx in patterns:
                if rx.search(text):
                    return name
    if status:
        if status in _HARD_STATUSES:
            return _HARD_STATUSES[status]
        if status in _SOFT_STATUSES:
            return _SOFT_STATUSES[status]
        if status.startswith("4."):
            return "expired"
    code = REPLY_RE.search(text)
    if code and code.group(1) in ("550", "551", "553") and not text.lower().count("policy"):
        return "rejected"
    return "undefined"


def kind_for(status: str | None, diagnostic: str | None) -> str:
    """``"hard"`` only when the address itself is wrong; otherwise ``"soft"``."""
    reason = reason_for(status, diagnostic)
    if reason == "notaccept" and status and status.startswith("4."):
        return "soft"
    return "hard" if reason in HARD_REASONS else "soft"
