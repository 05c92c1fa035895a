"""Job priorities (0-9, higher runs first) that each trigger gives when the caller names none.

A person waiting at the API or the console goes before machine-made work; scheduled reports,
which nobody is waiting for, go last.
"""

from __future__ import annotations

INTERACTIVE = 7  # the HTTP API and the console's run form
EVENT = 5  # webhooks and Kafka events (the job row's own default)
SCHEDULED = 3  # cron schedules
DEFAULT = EVENT
