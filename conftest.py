"""Root conftest: the kproof pytest plugin (target options and fixtures) for every test folder."""

pytest_plugins = ["kproof.pytest_target"]
