"""Typed errors for everything that can go wrong between a DAG and the LipaChat gateway.

``retryable`` tells the operator whether another Airflow try could succeed: permanent errors
(bad input, bad credentials, a closed 24-hour window, a request the gateway rejects) fail the
task at once; transient ones (network, throttling, 5xx left after the client's own retries)
are left to Airflow's retries.
"""

from __future__ import annotations


class LipaChatError(Exception):
    """Base class of every error this provider raises."""

    retryable: bool = False
    #: Whether the rest of a fan-out is pointless after this error: every other send would meet it too.
    stops_fan_out: bool = False


MAX_SHOWN_VALUE = 200


class LipaChatValidationError(LipaChatError, ValueError):
    """A value was refused before any request was sent; says which field and what is accepted.

    ``shown`` is how the value appears in the message when its repr would expose personal data
    (a masked phone number, a summary of placeholders); long values are cut short either way.
    """

    def __init__(self, field: str, value: object, problem: str, *, shown: str | None = None) -> None:
        self.field = field
        self.value = value
        self.problem = problem
        text = repr(value) if shown is None else shown
        if len(text) > MAX_SHOWN_VALUE:
            text = text[:MAX_SHOWN_VALUE] + "..."
        super().__init__(f"{field}={text}: {problem}")


class LipaChatAuthError(LipaChatError):
    """The gateway refused the API key (including its 'Invalid credentials' with status success)."""

    stops_fan_out = True


class LipaChatRequestError(LipaChatError):
    """The gateway answered and rejected the request; sending it again will not help."""

    def __init__(self, message: str, *, http_status: int | None = None) -> None:
        self.http_status = http_status
        super().__init__(message)


class LipaChatSessionClosedError(LipaChatRequestError):
    """WhatsApp's 24-hour customer-service window is closed for this recipient."""


class LipaChatTransientError(LipaChatError):
    """The gateway could not be reached or was overloaded, even after the client's retries."""

    retryable = True

    def __init__(self, message: str, *, http_status: int | None = None) -> None:
        self.http_status = http_status
        super().__init__(message)


class LipaChatUnresponsiveError(LipaChatTransientError):
    """The gateway answered nothing for the connection's timeout while sends were in flight.

    Transient (Airflow's retry resumes from what was checkpointed), and the rest of a fan-out is
    not attempted: thousands of sends would each wait out the same silence.
    """

    stops_fan_out = True


class LipaChatRateLimitStoreError(LipaChatTransientError):
    """The store that shares a sender number's rate limit did not answer, or refused the credentials; nothing was sent.

    Transient (Airflow retries the task once the store is back), and the rest of a fan-out is not
    attempted: every send would need the same store.
    """

    stops_fan_out = True


class LipaChatStoppedError(LipaChatTransientError):
    """The task was told to stop mid fan-out (Airflow's ``on_kill``: SIGTERM); what was not sent is left to a retry.

    Transient: a worker shut down or a pod evicted should not cost the recipients their message.
    """

    stops_fan_out = True


class LipaChatThroughputError(LipaChatTransientError):
    """WhatsApp refused sends over the sender number's throughput limit (error 130429), even after retries.

    Transient: the same message goes through once the number sends more slowly.
    """


class LipaChatResponseError(LipaChatError):
    """The gateway answered something this client cannot read (HTML, no waId, not JSON)."""

    retryable = True

    def __init__(self, message: str, *, http_status: int | None = None) -> None:
        self.http_status = http_status
        super().__init__(message)


class LipaChatFanOutError(LipaChatError):
    """Some recipients of a list were not sent to; ``failed`` maps each to its error.

    Retryable when any of those errors is: a retry sends only to the recipients not yet delivered.
    """

    def __init__(self, message: str, failed: dict[str, Exception]) -> None:
        self.failed = failed
        self.retryable = any(getattr(err, "retryable", True) for err in failed.values())
        super().__init__(message)
