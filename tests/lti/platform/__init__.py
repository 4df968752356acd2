"""A test LMS on lti1p3platform: run it with `python -m tests.lti.platform --host H --port P`."""
