"""URL and REST sources of imports: fetched by a job into the upload store, then imported
like any upload (see service.py)."""
