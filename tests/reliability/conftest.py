from tests.e2e.conftest import platform  # noqa: F401  (the same real-platform fixture)
