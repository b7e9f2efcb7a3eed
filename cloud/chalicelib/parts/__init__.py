"""The :class:`~chalicelib.container.Container`'s parts, each built on first use (``container.py``)."""
