# Image for docker-compose.yml: one image runs the API, the reporter or the agent.
FROM python:3.11-slim
WORKDIR /app
COPY setup.cfg pyproject.toml README.md ./
COPY controlplane ./controlplane
COPY workers ./workers
RUN pip install --no-cache-dir .
# The API and the reporter run as a user of their own, writing only /data (the SQLite
# database); docker-compose.yml runs the agent as root, since it drives the host's Docker
# socket, which only root (or its group, whose id differs from host to host) may use.
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin controlplane \
    && install -d -m 0700 -o controlplane -g controlplane /data
USER controlplane
# One probe for the three roles: the API's readiness by default; the reporter and the agent
# serve their metrics on a port of their own, which docker-compose.yml names in
# CONTROLPLANE_PROBE_URL (an answer there means the process runs and serves).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ.get('CONTROLPLANE_PROBE_URL', 'http://127.0.0.1:8000/readyz'), timeout=4)"]
ENTRYPOINT ["controlplane"]
