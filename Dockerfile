# Image for docker-compose.yml: one image runs the API, the reporter or the agent.
FROM python:3.11-slim
WORKDIR /app
COPY setup.cfg pyproject.toml README.md ./
COPY controlplane ./controlplane
COPY workers ./workers
RUN pip install --no-cache-dir .
ENTRYPOINT ["controlplane"]
