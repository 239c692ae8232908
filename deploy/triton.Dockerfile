# Triton for the gpu flavour: NVIDIA's container plus what the python-backend steps of the finbert
# ensemble import (the tokenizer and the softmax run investiq/core/triton_adapters.py).
ARG TRITON_VERSION=24.10
FROM nvcr.io/nvidia/tritonserver:${TRITON_VERSION}-py3
# No ONNX Runtime package: the gpu flavour runs Triton's own onnxruntime backend (TensorRT provider); the
# python steps need tokenizers and numpy, below 2 like the `triton` extra (the gateway's image has numpy 2).
RUN pip install --no-cache-dir tokenizers 'numpy<2'
COPY investiq /opt/investiq/investiq
ENV PYTHONPATH=/opt/investiq
