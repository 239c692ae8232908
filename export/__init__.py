"""Exports: trained networks -> validated ONNX (fp32, INT8) -> the Triton model repository."""
