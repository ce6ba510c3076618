"""The ``tandem`` command and the Python clients of Tandem's live socket and jobs API."""
