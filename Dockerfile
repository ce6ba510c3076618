# Control plane and RQ worker image: the project installed into python:3.11-slim.
#   docker build -t tandem .
#   docker run tandem tandem serve      (control plane; TANDEM_WORKERS=0 when workers run apart)
#   docker run tandem tandem worker     (workers: TANDEM_TRITON_GRPC_URL, same database/store/queue)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# ffmpeg-free: audio decoding goes through PyAV wheels; libsndfile ships inside soundfile's wheel.
# libjemalloc2: the allocator launchers/triton_server.py preloads for Triton's model processes.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libjemalloc2 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# Sources only (.dockerignore leaves out the venv, caches, data and git). torch comes from the CPU
# index: only the Triton image runs models, on the GPU; this image needs torch importable, no more.
COPY . .
RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu . \
    && python -c "from triton_models.whisper_base import get_model_path; get_model_path()"

RUN useradd --create-home --uid 10001 tandem \
    && mkdir -p /var/lib/tandem && chown tandem /var/lib/tandem
USER tandem
ENV TANDEM_DATA_DIR=/var/lib/tandem \
    TANDEM_HOST=0.0.0.0 \
    TANDEM_PORT=8000
EXPOSE 8000

HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=5 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=4)"

CMD ["tandem", "serve"]
