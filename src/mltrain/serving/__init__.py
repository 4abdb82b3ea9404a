"""A finished run's model applied to new rows: loading it, reading ``input=`` files, ONNX / TorchScript."""
