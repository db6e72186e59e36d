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
ENTRYPOINT ["controlplane"]
