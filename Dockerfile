# The gateway. Triton runs in its own container (docker-compose.yml); this image only talks to it.
FROM python:3.11-slim
WORKDIR /app
ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1
COPY pyproject.toml README.md config.yaml constraints.txt ./
COPY investiq ./investiq
COPY gateway ./gateway
COPY training ./training
COPY export ./export
COPY benchmarks ./benchmarks
COPY harness ./harness
# One ONNX Runtime (the `cpu` extra: the embedded backend, when INVESTIQ_BACKEND is not triton), OpenVINO (its
# BF16 PatchTST on CPUs with BF16 instructions) and the Triton client; at the versions scripts/ install.
RUN pip install -c constraints.txt '.[cpu,openvino,triton-client]'
# Not root. uid 1000 is the pod's fsGroup (deploy/kubernetes/base/gateway.yaml), and numeric below so that the
# kubelet can check runAsNonRoot. It writes under /data (the journal, market data): owning the empty
# directory gives a new named volume the same owner; a bind mount must be writable by uid 1000. And under
# /app/logs (logs_dir: the record of where it serves, which rollouts run in the container read): the default
# `logs` is relative to WORKDIR, root-owned, and the gateway could not start there (PermissionError).
RUN useradd --uid 1000 --user-group --create-home investiq && mkdir /data /app/logs \
    && chown investiq:investiq /data /app/logs
# Every interface: the port is published by the container runtime. Settings, not flags, so that INVESTIQ_HOST and
# INVESTIQ_PORT given to the container are obeyed (flags beat the environment: they were ignored without a word).
ENV INVESTIQ_LOGS_DIR=/app/logs INVESTIQ_HOST=0.0.0.0
USER 1000:1000
# OpenVINO's package sends usage data to Google Analytics on import unless its user opted out: opted out here, as
# its own CI does (the consent file, which sends nothing; `opt_in_out --opt_out` sends an opt-out event).
RUN mkdir -p /home/investiq/intel && echo 0 > /home/investiq/intel/openvino_telemetry
# ONNX Runtime (1.29 and later, on Linux too) sends telemetry to Microsoft when a process starts it: off here.
ENV ORT_DISABLE_TELEMETRY=1
EXPOSE 8080
# Settings come from the environment (docker-compose.yml): INVESTIQ_BACKEND, INVESTIQ_TRITON_URL, ...; the port
# is the setting's default, 8080.
CMD ["investiq", "serve"]
