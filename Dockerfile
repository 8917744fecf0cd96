# Image of the fuseml-serving workflow step: `python -m step` deploys one application's stack through the
# Pulumi Automation API. Versions are pinned here and must match requirements.txt (tests/test_step_docker.py
# checks it): the CLI is the test bed's (testbed/versions.py), at or above the pulumi SDK pin; each
# provider plugin is the version of its SDK.
#
#   docker build -t ghcr.io/<org>/fuseml-serving-step:<tag> .

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- the Pulumi CLI and provider plugins, fetched and verified in a throwaway stage ----------------------
FROM ${PYTHON_IMAGE} AS pulumi
ARG PULUMI_VERSION=3.274.0
ARG PULUMI_KUBERNETES_VERSION=4.25.0
ARG PULUMI_GCP_VERSION=10.2.0
# Set by BuildKit for the platform being built; a plain `docker build` leaves it empty (amd64 then).
ARG TARGETARCH
ENV PULUMI_HOME=/opt/pulumi-home \
    PULUMI_SKIP_UPDATE_CHECK=true
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
# The release tarball holds the CLI and its language hosts, among them the dynamic-provider host the
# FuseML application registration runs in. Its checksum comes from the same release's checksum list.
RUN set -eux; \
    case "${TARGETARCH:-amd64}" in amd64) arch=x64 ;; arm64) arch=arm64 ;; *) echo "unsupported ${TARGETARCH}"; exit 1 ;; esac; \
    base="https://github.com/pulumi/pulumi/releases/download/v${PULUMI_VERSION}"; \
    tarball="pulumi-v${PULUMI_VERSION}-linux-${arch}.tar.gz"; \
    cd /tmp; \
    curl -fsSLO "${base}/${tarball}"; \
    curl -fsSL "${base}/pulumi-${PULUMI_VERSION}-checksums.txt" -o checksums.txt; \
    grep " ${tarball}\$" checksums.txt | sha256sum -c -; \
    tar -xzf "${tarball}" -C /opt; \
    rm -f "${tarball}" checksums.txt; \
    /opt/pulumi/pulumi version
# Bake the plugins in, so a run never downloads one (and a pod without internet egress still deploys).
RUN /opt/pulumi/pulumi plugin install resource kubernetes "v${PULUMI_KUBERNETES_VERSION}" \
    && /opt/pulumi/pulumi plugin install resource gcp "v${PULUMI_GCP_VERSION}" \
    && /opt/pulumi/pulumi plugin ls

# --- the step image ------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
# Numeric uid (also in COPY --chown and USER below), so runAsNonRoot can verify it without /etc/passwd.
RUN useradd --uid 10001 --user-group --create-home --shell /usr/sbin/nologin step
WORKDIR /app
COPY requirements.txt ./
RUN pip install --no-cache-dir --disable-pip-version-check -r requirements.txt
COPY --from=pulumi /opt/pulumi /opt/pulumi
# PULUMI_HOME holds the plugins and the CLI's workspace files, which it writes at run time: owned by the user.
COPY --from=pulumi --chown=10001:10001 /opt/pulumi-home /opt/pulumi-home
COPY . /app
# PYTHONSAFEPATH: FuseML runs a codeset step in the codeset's directory, and a `step` package there must
# not shadow ours. PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER: the stack settings file is rebuilt on every
# run, so the passphrase salt is taken from the state. PYTHONUNBUFFERED: stream engine lines as they come.
ENV PATH=/opt/pulumi:${PATH} \
    PULUMI_HOME=/opt/pulumi-home \
    PULUMI_SKIP_UPDATE_CHECK=true \
    PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER=true \
    PYTHONPATH=/app \
    PYTHONSAFEPATH=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER 10001:10001
ENTRYPOINT ["python", "-m", "step"]
