# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed

.PHONY: venv demo test lint bench clean

venv: $(STAMP)

# torch is installed first and pinned, so pip never reaches for a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade "pip>=23.2"
	$(PIP) install -q "torch==2.13.0"
	$(PIP) install -q -e ".[cpu,virtualcam,train,dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/reenact demo --source assets/avatars/mona_lisa.jpg --driving assets/clips/franck_talk.mp4 \
		--out out/demo.mp4 --side-by-side --overwrite

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check app engine export training tests

bench: $(STAMP)
	$(VENV)/bin/reenact bench --backend all --json out/bench.json --plot out/bench.png --overwrite

clean:
	rm -rf out build *.egg-info
