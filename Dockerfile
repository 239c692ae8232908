# The gateway. Triton runs in its own container (docker-compose.yml); this image only talks to it.
FROM python:3.11-slim
WORKDIR /app
ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1
COPY pyproject.toml README.md config.yaml ./
COPY investiq ./investiq
COPY gateway ./gateway
COPY training ./training
COPY export ./export
COPY benchmarks ./benchmarks
COPY harness ./harness
# One ONNX Runtime (the `cpu` extra: the embedded backend, when INVESTIQ_BACKEND is not triton), OpenVINO (its
# BF16 PatchTST on CPUs with BF16 instructions) and the Triton client.
RUN pip install '.[cpu,openvino,triton-client]'
EXPOSE 8080
# Settings come from the environment (docker-compose.yml): INVESTIQ_BACKEND, INVESTIQ_TRITON_URL, ...
CMD ["investiq", "serve", "--host", "0.0.0.0", "--port", "8080"]
