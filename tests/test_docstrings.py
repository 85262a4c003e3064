"""Every public argument is documented where the API reference is generated from: a ``:param`` line."""

from __future__ import annotations

import inspect
import re

import pytest

from airflow_provider_lipachat.hooks.lipachat import LipaChatHook
from airflow_provider_lipachat.notifications.lipachat import LipaChatNotifier
from airflow_provider_lipachat.operators.lipachat import (
    SendWhatsAppButtonsOperator,
    SendWhatsAppMediaOperator,
    SendWhatsAppTemplateOperator,
    SendWhatsAppTextOperator,
)
from airflow_provider_lipachat.sensors.lipachat import WhatsAppDeliverySensor, WhatsAppReplySensor
from airflow_provider_lipachat.triggers.lipachat import WhatsAppDeliveryTrigger, WhatsAppReplyTrigger

PUBLIC = [
    LipaChatHook,
    SendWhatsAppMediaOperator,
    SendWhatsAppTextOperator,
    SendWhatsAppTemplateOperator,
    SendWhatsAppButtonsOperator,
    WhatsAppDeliverySensor,
    WhatsAppDeliveryTrigger,
    WhatsAppReplySensor,
    WhatsAppReplyTrigger,
    LipaChatNotifier,
]


def documented(cls: type) -> set[str]:
    """The ``:param`` names in the docstrings of ``cls`` and of this package's classes it builds on."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if klass.__module__.startswith("airflow_provider_lipachat."):
            names.update(re.findall(r":param (\w+):", klass.__doc__ or ""))
    return names


def arguments(cls: type) -> set[str]:
    """Every named argument of ``cls`` and of this package's classes it passes ``**kwargs`` on to."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if klass.__module__.startswith("airflow_provider_lipachat.") and "__init__" in vars(klass):
            parameters = inspect.signature(klass.__init__).parameters.values()
            names.update(p.name for p in parameters if p.name != "self" and p.kind is not p.VAR_KEYWORD)
    return names


@pytest.mark.parametrize("cls", PUBLIC, ids=lambda cls: cls.__name__)
def test_every_public_argument_has_a_param_line(cls: type) -> None:
    assert arguments(cls)  # the signature was read
    assert sorted(arguments(cls) - documented(cls)) == []
