# Orderly: the entry points. Everything installs itself into .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PACKAGES := shared/schemas shared/servicekit services/order services/inventory \
            services/payment services/notification services/analytics services/support \
            tools/dev tools/ops
STAMP := $(VENV)/.installed
SERVICES := order inventory payment notification analytics support

.PHONY: run test test-fast deploy-check bench bench-startup bench-stock lint format docs schemas venv clean

venv: $(STAMP)

$(STAMP): constraints.txt requirements-dev.txt $(foreach p,$(PACKAGES),$(p)/pyproject.toml)
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11 or newer is needed"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt \
		-r requirements-dev.txt $(foreach p,$(PACKAGES),-e $(p))
	touch $(STAMP)

## The whole suite on embedded PostgreSQL and Tansu, with a demo checkout.
run: venv
	$(BIN)/orderly-dev run $(ARGS)

## Unit, contract, integration and end-to-end tests against real servers. Everything but
## the end-to-end and fault tests runs in two processes (each with its own PostgreSQL and
## broker); those then run alone, since they load the whole suite and time its answers.
## PYTEST_ARGS runs one pytest with those arguments instead.
test: venv
ifdef PYTEST_ARGS
	$(BIN)/python -m pytest $(PYTEST_ARGS)
else
	$(BIN)/python -m pytest -m "not e2e" -n 2 --dist loadfile --durations=15
	$(BIN)/python -m pytest -m e2e --durations=15
endif

## Everything but the end-to-end and fault tests (about four minutes here).
test-fast: venv
	$(BIN)/python -m pytest -m "not e2e" -n 2 --dist loadfile

## The deployment description (Kustomize overlays, compose, Prometheus, collector,
## Dockerfile) checked against the code it deploys; needs kubectl for the overlays.
deploy-check: venv
	$(BIN)/python -m pytest tests/deploy

## Open-loop load through the running suite, beside the raw limits of its servers.
bench: venv
	$(BIN)/python -m orderly_dev.bench $(ARGS)

## From a (re)start to the API serving and to every consumer group assigned: fresh,
## after SIGTERM and after SIGKILL, all six services at once.
bench-startup: venv
	$(BIN)/python -m orderly_dev.bench_startup $(ARGS)

## Stock reservations per second, over disjoint SKUs and over a few hot SKUs, side by side.
bench-stock: venv
	$(BIN)/python -m orderly_dev.bench_stock $(ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## Fix what ruff can fix and format the code as lint expects it.
format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## The JSON Schemas of the contract and each service's AsyncAPI document.
docs: schemas venv
	mkdir -p docs/asyncapi
	for s in $(SERVICES); do $(BIN)/python -m orderly_$$s asyncapi > docs/asyncapi/$$s.json || exit 1; done

## The contract's ISO code lists (from the pinned pycountry) and its JSON Schemas.
schemas: venv
	$(BIN)/python -m orderly_dev.iso_codes shared/schemas/src/orderly_schemas/iso_codes.py
	$(BIN)/python -m orderly_schemas.export shared/schemas/jsonschema

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
