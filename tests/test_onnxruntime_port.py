"""Code written for onnxruntime, run with only its imports changed to fastort.onnxruntime.

The examples follow onnxruntime's Python documentation (the API summary's InferenceSession,
OrtValue and IOBinding-on-CPU snippets, and the gallery's "load and predict", "common errors",
"metadata" and "profiling" examples) and the inference part of a typical scikit-learn ->
ONNX tutorial. Each runs twice, unchanged but for the imports: with onnxruntime and with
fastort.onnxruntime; what it leaves in `result` must be identical.
"""

from __future__ import annotations

import shutil
import textwrap

import pytest

from models import ort_datasets
from test_onnxruntime_compat import same

TUTORIAL = """
import numpy
import onnxruntime as rt
from onnxruntime.datasets import get_example

example1 = get_example("sigmoid.onnx")
sess = rt.InferenceSession(example1, providers=rt.get_available_providers())

input_name = sess.get_inputs()[0].name
input_shape = sess.get_inputs()[0].shape
input_type = sess.get_inputs()[0].type
output_name = sess.get_outputs()[0].name
output_shape = sess.get_outputs()[0].shape
output_type = sess.get_outputs()[0].type

x = numpy.linspace(-2, 2, 60).reshape((3, 4, 5))
x = x.astype(numpy.float32)
res = sess.run([output_name], {input_name: x})
result = [input_name, input_shape, input_type, output_name, output_shape, output_type, res]
"""

COMMON_ERRORS = """
import numpy
import onnxruntime as rt
from onnxruntime.capi.onnxruntime_pybind11_state import InvalidArgument
from onnxruntime.datasets import get_example

example2 = get_example("logreg_iris.onnx")
sess = rt.InferenceSession(example2, providers=rt.get_available_providers())
input_name = sess.get_inputs()[0].name
output_name = sess.get_outputs()[0].name
result = []

x = numpy.array([[5.0, 3.0], [2.3, 1.5], [6.1, 2.8]], dtype=numpy.float64)
try:
    r = sess.run([output_name], {input_name: x})
except InvalidArgument:
    result.append("unexpected type")

x = x.astype(numpy.float32)
try:
    r = sess.run(["misspelled"], {input_name: x})
except InvalidArgument:
    result.append("misspelled output name")

try:
    r = sess.run([output_name], {"misspelled": x})
except ValueError:
    result.append("misspelled input name")

for shape in [(3, 2), (1, 6), (6, 1)]:
    try:
        r = sess.run([output_name], {input_name: x.reshape(shape)})
        result.append((shape, r))
    except InvalidArgument:
        result.append((shape, "wrong shape"))
"""

METADATA = """
import onnxruntime as rt
from onnxruntime.datasets import get_example

example = get_example("logreg_iris.onnx")
sess = rt.InferenceSession(example, providers=rt.get_available_providers())
meta = sess.get_modelmeta()
result = [
    meta.custom_metadata_map,
    meta.description,
    meta.domain,
    meta.graph_name,
    meta.producer_name,
    meta.version,
]
"""

PROFILING = """
import json
import numpy
import onnxruntime as rt
from onnxruntime.datasets import get_example

example1 = get_example("mul_1.onnx")
options = rt.SessionOptions()
options.enable_profiling = True
sess_profile = rt.InferenceSession(example1, options, providers=rt.get_available_providers())
input_name = sess_profile.get_inputs()[0].name

x = numpy.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], dtype=numpy.float32)
sess_profile.run(None, {input_name: x})

prof_file = sess_profile.end_profiling()
with open(prof_file) as f:
    sess_time = json.load(f)
result = sorted({(event["cat"], event["name"]) for event in sess_time if event["cat"] == "Node"})
"""

API_SUMMARY = """
import numpy as np
import onnxruntime

X = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], dtype=np.float32)

# Load and run a model
session = onnxruntime.InferenceSession("model.onnx", providers=["CPUExecutionProvider"])
outputs = session.run(["Y"], {"X": X})

# OrtValue on the CPU, and as part of the input feed
ortvalue = onnxruntime.OrtValue.ortvalue_from_numpy(X)
described = [ortvalue.device_name(), ortvalue.shape(), ortvalue.data_type(),
             ortvalue.is_tensor(), np.array_equal(ortvalue.numpy(), X)]
from_ortvalue = session.run(["Y"], {"X": ortvalue})

# IOBinding: input from a numpy array, output allocated by the run
io_binding = session.io_binding()
io_binding.bind_cpu_input("X", X)
io_binding.bind_output("Y")
session.run_with_iobinding(io_binding)
Y = io_binding.copy_outputs_to_cpu()[0]

# IOBinding: input and output in OrtValues, bound by their memory
X_ortvalue = onnxruntime.OrtValue.ortvalue_from_numpy(X, "cpu", 0)
Y_ortvalue = onnxruntime.OrtValue.ortvalue_from_shape_and_type([3, 2], np.float32, "cpu", 0)
io_binding = session.io_binding()
io_binding.bind_input(name="X", device_type=X_ortvalue.device_name(), device_id=0,
                      element_type=np.float32, shape=X_ortvalue.shape(),
                      buffer_ptr=X_ortvalue.data_ptr())
io_binding.bind_output(name="Y", device_type=Y_ortvalue.device_name(), device_id=0,
                       element_type=np.float32, shape=Y_ortvalue.shape(),
                       buffer_ptr=Y_ortvalue.data_ptr())
session.run_with_iobinding(io_binding)

# IOBinding: OrtValues bound directly
io_binding = session.io_binding()
io_binding.bind_ortvalue_input("X", X_ortvalue)
Z_ortvalue = onnxruntime.OrtValue.ortvalue_from_shape_and_type([3, 2], np.float32, "cpu", 0)
io_binding.bind_ortvalue_output("Y", Z_ortvalue)
session.run_with_iobinding(io_binding)

result = [outputs, described, from_ortvalue, Y, Y_ortvalue.numpy(), Z_ortvalue.numpy()]
"""

SKLEARN_TUTORIAL = """
import numpy
import onnxruntime as rt

X_test = numpy.array([[5.9, 3.0], [4.8, 1.8], [6.2, 3.4]])
sess = rt.InferenceSession("logreg_iris.onnx", providers=["CPUExecutionProvider"])
input_name = sess.get_inputs()[0].name
label_name = sess.get_outputs()[0].name
pred_onx = sess.run([label_name], {input_name: X_test.astype(numpy.float32)})[0]
probabilities = sess.run(None, {input_name: X_test.astype(numpy.float32)})[1]
result = [pred_onx, probabilities]
"""

EXAMPLES = {
    "tutorial": TUTORIAL,
    "common errors": COMMON_ERRORS,
    "metadata": METADATA,
    "profiling": PROFILING,
    "api summary": API_SUMMARY,
    "scikit-learn tutorial": SKLEARN_TUTORIAL,
}

IMPORTS = {
    "import onnxruntime as rt": "import fastort.onnxruntime as rt",
    "import onnxruntime\n": "import fastort.onnxruntime as onnxruntime\n",
    "from onnxruntime.datasets import": "from fastort.onnxruntime.datasets import",
    "from onnxruntime.capi.onnxruntime_pybind11_state import": (
        "from fastort.onnxruntime.capi.onnxruntime_pybind11_state import"
    ),
}


def ported(code: str) -> str:
    for original, replacement in IMPORTS.items():
        code = code.replace(original, replacement)
    return code


def run_example(code: str) -> object:
    namespace: dict[str, object] = {}
    exec(compile(textwrap.dedent(code), "<example>", "exec"), namespace)
    return namespace["result"]


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_onnxruntime_code_runs_with_only_the_imports_changed(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # profiles are written here; "model.onnx" is read from here
    shutil.copy(ort_datasets() / "mul_1.onnx", tmp_path / "model.onnx")
    shutil.copy(ort_datasets() / "logreg_iris.onnx", tmp_path / "logreg_iris.onnx")
    original = EXAMPLES[name]
    port = ported(original)
    changed = [(a, b) for a, b in zip(original.splitlines(), port.splitlines()) if a != b]
    assert changed, "the port changed nothing"
    assert all("import" in a and "import" in b for a, b in changed), changed
    theirs = run_example(original)
    ours = run_example(port)
    same(ours, theirs)
