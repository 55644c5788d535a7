"""Root pytest configuration: shared fixtures for real Redis, real workers and test effects."""

import os

# Test-only subscribers (to `test.*` events only) are registered in the test process as well as
# in every worker it starts, so a test can publish to them.
os.environ.setdefault("OUTLAY_EXTRA_SUBSCRIBERS", "tests.support.subscribers")

pytest_plugins = ["tests.support.fixtures", "tests.support.clock"]
