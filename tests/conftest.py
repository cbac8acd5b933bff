import pytest

from tests.stores import BACKENDS, make_factory


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite tests/golden/ from the current code instead of comparing "
                          "(tests/test_golden.py); review the diff before committing it")


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


@pytest.fixture(scope="session")
def rehearsal(tmp_path_factory):
    """The report tests' rehearsal (tests/report_rehearsal.py), built once per process;
    tests read it and copy its file before writing."""
    from tests.report_rehearsal import build_rehearsal

    return build_rehearsal(tmp_path_factory.mktemp("rehearsal"))
