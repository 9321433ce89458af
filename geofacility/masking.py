"""Passwords never shown: :func:`mask_secrets` replaces the password of every PostgreSQL URL
(``postgresql://user:secret@host/db`` → ``postgresql://user:***@host/db``) and every ``password=…`` of a libpq
connection string or URL query (``PG:dbname=x password=secret`` → ``PG:dbname=x password=***``) in a text. Every
message, warning, ``run.json`` and ``source_file`` value that names a database goes through it. No imports beyond
the standard library: the command line's error handler uses it too."""
from __future__ import annotations

import re

__all__ = ["mask_secrets", "MASK"]

MASK = "***"

#: the password of a URL's user information: scheme://user:PASSWORD@host
_URL_PASSWORD = re.compile(r"(?i)\b(postgres(?:ql)?(?:\+\w+)?://[^\s/@:]*:)[^\s@/]*@")
#: password=VALUE in a libpq key=value string (VALUE plain or 'quoted') or in a URL query (…&password=VALUE)
_KEY_PASSWORD = re.compile(r"(?i)\b(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&'\"]*)")


def mask_secrets(text) -> str:
    """``text`` with every database password replaced by ``***`` (see the module docstring); other text as is."""
    text = str(text)
    if "=" not in text and "@" not in text:
        return text
    text = _URL_PASSWORD.sub(rf"\g<1>{MASK}@", text)
    return _KEY_PASSWORD.sub(rf"\g<1>{MASK}", text)
