# syntax=docker/dockerfile:1
# mcpfast server image: python -m mcpfast.server (the demo tools, or --app module:obj) on
# Streamable HTTP, port 8000. See docs/deploy.md.
#
#   docker build -t mcpfast .
#   docker run --rm -p 127.0.0.1:8000:8000 mcpfast
#   docker run --rm -p 8000:8000 -v "$PWD/app:/app:ro" mcpfast --app server:mcp --transport http --host 0.0.0.0
ARG PYTHON_VERSION=3.12

# ---------------------------------------------------------------- stage 1: build the wheels
FROM python:${PYTHON_VERSION}-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# the wheel of mcpfast (the Cython wire core compiled here) and of every runtime dependency:
# the HTTP extra (httptools, uvicorn) and websockets (the ws transport)
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[http]" "websockets>=13"

# ---------------------------------------------------------------- stage 2: the runtime
FROM python:${PYTHON_VERSION}-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MCPFAST_HEALTH_URL=http://127.0.0.1:8000/mcp
# only the installed wheels: the wheel directory is mounted for this step, never copied in
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels "mcpfast[http]" websockets \
 && python -c "import mcpfast; assert mcpfast.EXTENSIONS, 'the compiled wire core did not load'"
RUN groupadd --system --gid 10001 mcp \
 && useradd --system --uid 10001 --gid mcp --no-create-home --home-dir /app --shell /usr/sbin/nologin mcp
# --app module:obj is imported from here (mount your server's files on /app)
WORKDIR /app
USER 10001:10001
EXPOSE 8000
# talks MCP: asks server/discover and expects a result (MCPFAST_HEALTH_URL says where)
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["python", "-m", "mcpfast.server.healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["python", "-m", "mcpfast.server"]
# 0.0.0.0 inside a container: the published port decides who can reach it (docs/deploy.md on
# the Host/Origin check)
CMD ["--transport", "http", "--host", "0.0.0.0", "--port", "8000"]
