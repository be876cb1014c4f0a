"""The one data converter shared by the worker, the CLI, the API and the tests."""

from __future__ import annotations

import dataclasses

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter


def data_converter() -> DataConverter:
    """Pydantic v2 payloads (an encryption codec is added by the personal-data issue)."""
    return dataclasses.replace(pydantic_data_converter)
