"""The names of the asset jobs that `casi-pipeline` runs in-process. The jobs are defined in their domains'
definitions.py; the names live here so that the CLI can name a job without loading the code location."""

RELEASE_JOB = "release_job"
REDTEAM_JOB = "redteam_job"
PUBLISH_JOB = "publish_job"
