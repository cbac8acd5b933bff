import pytest

from tests.stores import BACKENDS, make_factory


@pytest.fixture(params=BACKENDS)
def store_factory(request, tmp_path):
    factory, cleanup = make_factory(request.param, tmp_path)
    yield factory
    cleanup()


@pytest.fixture
def store(store_factory):
    s = store_factory()
    yield s
    s.close()
