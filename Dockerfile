# The parcours-rsa image (worker, API, codec server, one-shot jobs). Build: docker build -t parcours-rsa .
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md requirements.lock ./
COPY domain ./domain
COPY workflows ./workflows
COPY activities ./activities
COPY workers ./workers
# Every version pinned by requirements.lock, as `make install` does; then an unprivileged user that owns only
# its state directory (the drop directory is a volume mounted there, readable by this user alone).
RUN pip install --no-cache-dir -c requirements.lock . \
    && useradd --system --uid 10001 --home-dir /var/lib/parcours parcours \
    && install -d -o parcours -g parcours -m 0700 /var/lib/parcours /var/lib/parcours/drop
ENV PARCOURS_HOME=/var/lib/parcours PARCOURS_DROP_DIR=/var/lib/parcours/drop
USER 10001
CMD ["parcours", "worker"]
