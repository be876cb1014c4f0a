# The parcours-rsa worker image (production). Build: docker build -t parcours-rsa .
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md requirements.lock ./
COPY domain ./domain
COPY workflows ./workflows
COPY activities ./activities
COPY workers ./workers
RUN pip install --no-cache-dir -c requirements.lock . && useradd --system parcours
USER parcours
CMD ["parcours", "worker"]
