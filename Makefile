# Two commands a newcomer needs: `make book` and `make test`.
# Both create .venv on first use. torch is installed with an overridable pin because an
# unpinned torch pulls several GB of CUDA packages: `make test TORCH_SPEC="torch>=2.3"`.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BOOK_FLAGS ?=
PYTEST_FLAGS ?= -n 2
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: book test verify bench clean-book clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade --quiet pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[book,test,data]"
	$(BIN)/python -m ipykernel install --prefix $(VENV) --name python3 > /dev/null
	touch $(STAMP)

# Two pytest workers on two cores: one BLAS/OpenMP thread each, or tiny matrix products
# spend their time in thread contention.
test: $(STAMP)
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $(BIN)/python -m pytest $(PYTEST_FLAGS)

book: $(STAMP)
	PYTHONPATH="$(CURDIR)$${PYTHONPATH:+:$$PYTHONPATH}" PATH="$(abspath $(BIN)):$$PATH" $(BIN)/jupyter-book build . --path-output . $(BOOK_FLAGS)
	@echo "The book is at $(abspath _build/html/index.html)"

verify: $(STAMP)
	$(BIN)/python -m dropout_theory verify

bench: $(STAMP)
	$(BIN)/python -m dropout_theory bench

clean-book:
	rm -rf _build

clean: clean-book
	rm -rf $(VENV)
