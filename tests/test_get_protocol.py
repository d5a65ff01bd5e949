"""dask's own ``get`` contract (``dask.utils_test.GetFunctionTestMixin``) run against ``client.get``."""

from __future__ import annotations

import pytest
from dask.utils_test import GetFunctionTestMixin


class TestWukongGet(GetFunctionTestMixin):
    @pytest.fixture(autouse=True)
    def _use_client(self, client):
        type(self).get = staticmethod(client.get)
