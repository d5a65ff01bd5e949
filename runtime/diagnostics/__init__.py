"""What a user sees of a job: its report and cost (``report``), a timeline picture (``timeline``), and
progress through dask's callbacks (``progress``). Nothing here runs a job."""
