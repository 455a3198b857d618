# `make run`: the API on http://127.0.0.1:8000 with local AWS (moto) on http://127.0.0.1:4566, the
# event pump and persistent local data in .local/. Included by the top-level Makefile, which defines
# VENV, PY and the $(VENV)/.installed target.
# Ports and state directory: LOCAL_API_PORT, LOCAL_AWS_PORT, LOCAL_STATE_DIR (environment).
# Extra flags for the stack (e.g. --no-persist, --autoreload, --no-api): make run RUN_ARGS='...'

RUN_ARGS ?=

.PHONY: run
run: $(VENV)/.installed
	$(PY) -m chalicelib.local.stack $(RUN_ARGS)
