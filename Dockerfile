# The production image: the portal's code, its locked dependencies, and what WeasyPrint
# needs to render PDFs (Pango, and a CJK font so that Chinese text shows real glyphs).
FROM python:3.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_PYTHON_DOWNLOADS=never \
    PATH=/opt/venv/bin:$PATH

RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 \
        fonts-noto-cjk fonts-dejavu-core gettext curl \
    && rm -rf /var/lib/apt/lists/*

RUN pip install --no-cache-dir uv

WORKDIR /app
COPY pyproject.toml uv.lock .python-version ./
RUN uv sync --frozen --no-dev --no-install-project

COPY . .
RUN DEBUG=1 python manage.py compilemessages --ignore=/opt/venv -v0 \
    && DEBUG=1 python manage.py collectstatic --no-input -v0

# /tmp/metrics: prometheus-client's multiprocess files (PROMETHEUS_MULTIPROC_DIR), normally a
# tmpfs or an emptyDir mounted over it.
RUN useradd --system --home /app portal && mkdir -p /app/var /tmp/metrics \
    && chown portal /app/var /tmp/metrics
USER portal

EXPOSE 8000
# The access log's format (no query strings, card-like numbers masked) is in portal/gunicorn_config.py.
CMD ["gunicorn", "portal.wsgi", "--config", "python:portal.gunicorn_config", "--bind", "0.0.0.0:8000", "--workers", "3"]
