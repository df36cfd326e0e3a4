"""gunicorn's settings for the portal's web server, as the Dockerfile and docker-compose.yml
run it: `gunicorn portal.wsgi --config python:portal.gunicorn_config`.

The access log records the method and the path, never the query string (a refused card
number sent in one would land there) nor the referrer (which carries the previous page's
query string); card-like numbers in the path and in gunicorn's own messages are masked.
"""

from __future__ import annotations

from typing import Any

from gunicorn import glogging

from payments.card_numbers import CardNumberFilter

accesslog = "-"
# %(U)s is the path alone; %(r)s (the request line) and %(q)s would add the query string.
access_log_format = '%(h)s %(l)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(a)s" %(M)sms'


class MaskingLogger(glogging.Logger):
    """gunicorn's logger, with card-like numbers masked in the access and error logs."""

    def __init__(self, cfg: Any) -> None:
        super().__init__(cfg)
        for log in (self.error_log, self.access_log):
            log.addFilter(CardNumberFilter())


logger_class = MaskingLogger
