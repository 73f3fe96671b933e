# One recipe for every Orderly service; the service is a build argument:
#   docker build --build-arg SERVICE=order -t orderly/order:dev .
# SERVICE is one of: order, inventory, payment, notification, analytics, support.
# The image only runs the service; its bind address and port come from the environment
# (<PREFIX>_HTTP_HOST=0.0.0.0, <PREFIX>_HTTP_PORT=8080, as docker-compose.yml and deploy/k8s set).

ARG PYTHON_IMAGE=python:3.11-slim

# --- build: a virtualenv with the shared packages and this one service -------------------
FROM ${PYTHON_IMAGE} AS build
ARG SERVICE
RUN test -n "${SERVICE}" \
    || { echo "build with --build-arg SERVICE=<order|inventory|payment|notification|analytics|support>" >&2; exit 1; }
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/orderly
# The same pins as every other install (make venv): the image runs what the tests ran.
COPY constraints.txt /src/constraints.txt
COPY shared/schemas /src/shared/schemas
COPY shared/servicekit /src/shared/servicekit
COPY services/${SERVICE} /src/services/${SERVICE}
# The operator tools (orderly-ops invariants) ride along in every image: small, no extra deps.
COPY tools/ops /src/tools/ops
# Not editable: the packages (with their Alembic migrations as package data) are copied into
# the venv, so the runtime stage needs nothing from /src. The import afterwards fails the
# build, not the container, when a runtime dependency is missing.
RUN /opt/orderly/bin/pip install -c /src/constraints.txt \
        /src/shared/schemas /src/shared/servicekit "/src/services/${SERVICE}" /src/tools/ops \
    && /opt/orderly/bin/python -c "import orderly_${SERVICE}.bootstrap"

# --- runtime -------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ARG SERVICE
LABEL org.opencontainers.image.title="orderly-${SERVICE}" \
      org.opencontainers.image.description="Orderly ${SERVICE} service"
ENV SERVICE=${SERVICE} \
    PATH=/opt/orderly/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
# A fixed numeric uid: Kubernetes can only verify runAsNonRoot against a numeric USER.
RUN groupadd --system --gid 10001 orderly \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin orderly
COPY --from=build /opt/orderly /opt/orderly
USER 10001:10001
EXPOSE 8080
# Shell form so that ${SERVICE} expands; `exec` makes Python PID 1, so SIGTERM from
# `docker stop` or Kubernetes reaches uvicorn and the service drains instead of being killed.
CMD exec python -m orderly_${SERVICE} serve
