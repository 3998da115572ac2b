# The code location image: serves casi_pipeline.definitions over gRPC to the webserver and the daemon, and runs the
# runs they launch. The same image runs the webserver and the daemon in deploy/compose.yaml. See deploy/README.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DAGSTER_HOME=/opt/dagster/home \
    CASI_DATA_RAW=/data/data_raw \
    CASI_WAREHOUSE=/data/warehouse

# A fixed unprivileged user: it owns the instance folder and the local roots (when the roots are not s3:// URLs).
RUN groupadd --gid 10001 casi \
    && useradd --uid 10001 --gid casi --no-create-home --home-dir /opt/casi --shell /usr/sbin/nologin casi \
    && mkdir -p /opt/casi "$DAGSTER_HOME" "$CASI_DATA_RAW" "$CASI_WAREHOUSE"

WORKDIR /opt/casi
COPY pyproject.toml README.md ./
COPY casi_pipeline ./casi_pipeline
RUN pip install ".[deploy]"

# The instance: PostgreSQL from DAGSTER_POSTGRES_URL, queued runs, one-slot pools, run monitoring, no telemetry.
COPY deploy/dagster.yaml deploy/workspace.yaml "$DAGSTER_HOME"/
RUN chown -R casi:casi /opt/casi "$DAGSTER_HOME" /data

USER casi:casi
EXPOSE 4000
CMD ["dagster", "code-server", "start", "--host", "0.0.0.0", "--port", "4000", "--module-name", "casi_pipeline.definitions", "--location-name", "casi_pipeline"]
