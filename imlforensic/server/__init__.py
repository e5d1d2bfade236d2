"""``imlforensic serve``: the analysis as a local HTTP API with warm models.

:mod:`.engine` does the work (models, locks, queue, results) without HTTP; :mod:`.app` is the
FastAPI application around it. Both need the ``serve`` extra (``pip install "imlforensic[serve]"``)
only for :mod:`.app` and the command itself.
"""
