"""tvm-sepnet: compile SEP-Nets (pattern networks) to bitserial and int8 kernels with Apache TVM."""
import os

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py


class BuildPy(build_py):
    """tvm_sepnet.system_scripts carries only install_system_packages.sh, not the repository's Python scripts."""

    def find_package_modules(self, package, package_dir):
        return [] if package == "tvm_sepnet.system_scripts" else super().find_package_modules(package, package_dir)

setup(
    name="tvm-sepnet",
    version="0.1.0",
    description="Apache TVM extension compiling pattern networks (SEP-Nets) to low-bit kernels",
    long_description=open("README.md", encoding="utf-8").read() if os.path.exists("README.md") else "",
    long_description_content_type="text/markdown",
    # the accelerator's RTL (rtl/, read by the fpga-rtl targets and fpga-synth) and the system-package script
    # live outside the package in a checkout; a wheel carries them as tvm_sepnet/rtl_sources and
    # tvm_sepnet/system_scripts (tvm_sepnet.fpga.rtl.RTL_DIR and tvm_sepnet.system_tools find either)
    packages=find_packages(include=["tvm_sepnet*", "relay_passes*", "schedules*"])
    + ["tvm_sepnet.rtl_sources", "tvm_sepnet.rtl_sources.sim", "tvm_sepnet.system_scripts"],
    package_dir={"tvm_sepnet.rtl_sources": "rtl", "tvm_sepnet.system_scripts": "scripts"},
    package_data={"tvm_sepnet.bench": ["peak.c"], "tvm_sepnet.device": ["kernel_loader.c"],
                  "tvm_sepnet.targets": ["accelerator_presets/*.json"],
                  "tvm_sepnet.rtl_sources": ["*.sv", "*.svh", "README.md"], "tvm_sepnet.rtl_sources.sim": ["*.cpp"],
                  "tvm_sepnet.system_scripts": ["install_system_packages.sh"]},
    cmdclass={"build_py": BuildPy},
    python_requires=">=3.10",
    install_requires=[
        # apache-tvm-ffi 0.1.15 segfaults in tvm.ir.save_json, which MetaSchedule needs: keep both pins.
        "apache-tvm==0.27.0.post1",
        "apache-tvm-ffi==0.1.14.post1",
        "numpy>=1.24",
        "xgboost-cpu>=2.0",  # the CPU build: no multi-GB CUDA libraries
        "tornado",
        "cloudpickle",
        "psutil",
        "matplotlib",  # tuning curves and benchmark plots
        "tflite>=2.18",  # the TFLite flatbuffer schema (reading .tflite files; no TensorFlow)
        "flatbuffers>=23",  # flexbuffers: LCE's custom op options
        "tqdm>=4.60",  # progress bars of compile, tune, bench (stderr, terminals only)
    ],
    extras_require={
        # sympy: onnxruntime's quant_pre_process (tvm-sepnet bench) imports it; onnxruntime does not declare it
        "onnx": ["onnx>=1.15", "onnxruntime>=1.17", "sympy"],
        # build, setuptools>=70.1 (bdist_wheel built in): tests/test_wheel.py builds the wheel without build
        # isolation and installs it into a fresh venv
        "test": ["pytest>=7", "onnx>=1.15", "onnxruntime>=1.17", "sympy", "pygments", "ruff", "build",
                 "setuptools>=70.1"],
        # exporting torchvision models (tvm-sepnet conformance, tests/frontend/test_torch_exports.py). PyPI has
        # only CUDA builds of torch for x86-64 Linux: 555 MB + 2.2 GB of nvidia-* wheels, 5.5 GB installed.
        "torch": ["torch>=2.9", "torchvision", "onnxscript>=0.5"],
        # training low-bit SEP-Nets on scikit-learn's digits and exporting QONNX (tvm_sepnet.train, docs/training.md);
        # qonnx's executor is the reference that imported models are checked against
        "train": ["torch>=2.9", "brevitas>=0.13", "qonnx>=1.0", "onnxoptimizer", "scikit-learn>=1.3"],
        # writing .tflite files of zoo networks (tvm_sepnet.models.to_larq) and running LCE beside us
        "larq": ["tensorflow-cpu", "tf-keras", "larq", "larq-compute-engine"],
    },
    entry_points={"console_scripts": ["tvm-sepnet=tvm_sepnet.cli:main"]},
)
