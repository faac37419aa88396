# msgemu as a container: `docker build -t msgemu . && docker run --rm -p 8080:8080 msgemu`
#
# BASE_IMAGE: any Debian-like image with python3 (>= 3.10) and its venv module. CI builds one
#   locally with mmdebstrap (.ci/base-image) because no registry is reachable there.
# PIP_CA_BUNDLE: optional path, inside the build context, of a CA bundle pip must trust (a
#   network whose TLS goes through an inspecting proxy). Read by the build stage only: the
#   final image never contains it.
ARG BASE_IMAGE=python:3.12-slim

FROM ${BASE_IMAGE} AS build
ARG PIP_CA_BUNDLE=""
COPY . /src
RUN set -eu; \
    if [ -n "$PIP_CA_BUNDLE" ]; then export PIP_CERT="/src/$PIP_CA_BUNDLE"; fi; \
    python3 -m venv /opt/msgemu; \
    /opt/msgemu/bin/pip install --no-cache-dir --disable-pip-version-check --no-compile /src; \
    /opt/msgemu/bin/python -m compileall -q /opt/msgemu/lib; \
    /opt/msgemu/bin/msgemu --version

FROM ${BASE_IMAGE}
RUN useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin msgemu \
    && mkdir /scenarios
COPY --from=build /opt/msgemu /opt/msgemu
# Inside the container msgemu listens on all interfaces (0.0.0.0), on purpose: otherwise a
# published port (-p 8080:8080) or another container of the network could not reach it. Outside
# a container its default stays 127.0.0.1. Publish to the host's loopback only with
# `-p 127.0.0.1:8080:8080`.
ENV PATH=/opt/msgemu/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MSGEMU_HOST=0.0.0.0 \
    MSGEMU_PORT=8080
# Scenarios: mount yours at /scenarios and pick one with MSGEMU_SCENARIO=/scenarios/NAME.yaml
# (reloaded when the file changes); the shipped ones are chosen by name (MSGEMU_SCENARIO=happy-path).
VOLUME ["/scenarios"]
WORKDIR /scenarios
USER msgemu
EXPOSE 8080
HEALTHCHECK --interval=5s --timeout=3s --start-period=5s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/_emulator/health' % os.environ.get('MSGEMU_PORT', '8080'), timeout=2)"]
ENTRYPOINT ["msgemu"]
CMD ["serve"]
