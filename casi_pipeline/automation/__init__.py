"""Operating the pipeline in Dagster: the monthly upstream refresh, the raw-drop sensor, publishing after releases."""
