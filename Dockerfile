# bulk-delete as a container: `docker run IMAGE run /exports/*.csv` (see deploy/).
#
# Build:  docker build --build-arg VERSION=0.1.0 --build-arg REVISION="$(git rev-parse HEAD)" \
#           -t bulk-delete:0.1.0 .
#
# One stage is enough: pip builds the package's wheel in an isolated environment that it
# throws away, so no build tool stays in the image. tests/test_deploy.py runs the pip steps
# below in a fresh venv, so they are known to install a working `bulk-delete`.

# Python minor version and Debian release pinned; pin the digest too (@sha256:...) where
# builds must be byte-for-byte reproducible.
FROM python:3.12-slim-trixie

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# A numeric UID/GID, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
# /data is created here, owned by that user, because a new named volume copies the
# ownership of the directory it is mounted on.
RUN groupadd --system --gid 10001 bulkdelete \
    && useradd --system --no-log-init --uid 10001 --gid 10001 \
        --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin bulkdelete \
    && mkdir /data \
    && chown 10001:10001 /data \
    && chmod 0700 /data

WORKDIR /opt/bulk-delete

# Dependencies first, read from pyproject.toml alone: this layer is rebuilt only when
# pyproject.toml changes, not on every change to the source.
COPY pyproject.toml ./
RUN python -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"], sep="\n")' > requirements.txt \
    && pip install --requirement requirements.txt

# Then the package itself, without touching the dependencies; pip check proves that the
# layer above holds everything it needs.
COPY README.md ./
COPY bulk_delete/ bulk_delete/
RUN pip install --no-deps . \
    && pip check

USER 10001:10001
WORKDIR /data
# The checkpoint (journal, manifest, lock, report) must outlive the container: mount a
# named volume or a PersistentVolumeClaim here.
VOLUME /data
# No API key here: mount it as a file and point JUNE_API_KEY_FILE at it at run time.
# BULK_DELETE_LOG_FORMAT stays "auto": JSON lines without a terminal (cron, Kubernetes),
# the live progress display under `docker run -it`.
ENV BULK_DELETE_CHECKPOINT_DIR=/data/state

ARG VERSION=""
ARG REVISION=""
LABEL org.opencontainers.image.title="bulk-delete" \
      org.opencontainers.image.description="Erase users and groups from June (june.so) in bulk for GDPR/CCPA, with checkpoints, resume and an audit report." \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"

# Exec form, no init: bulk-delete is PID 1 and gets SIGTERM itself. It installs its own
# SIGTERM/SIGINT handlers (PID 1 gets no default signal actions, so this matters), lets
# in-flight requests finish within a few seconds, flushes the journal and exits 143, well
# inside `docker stop`'s 10 s and Kubernetes' 30 s. It starts no child processes, so
# there are no zombies for an init (tini, docker run --init) to reap.
ENTRYPOINT ["bulk-delete"]
CMD ["--help"]
