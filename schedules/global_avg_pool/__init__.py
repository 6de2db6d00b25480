"""Global average pooling with float64 accumulation (``compute.py``, ``kernel.py``; numpy twin:
``tvm_sepnet.reference``'s ``adaptive_avg_pool2d``)."""
