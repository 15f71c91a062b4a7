# StrideVR: `make run` to start a demo server, `make test` to run the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PG_TEST_URL ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: install run lint test test-fast test-postgres sim play clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## Migrate data/stridevr.sqlite3, seed the demo clinic (fresh credentials printed), serve on :8765.
run: $(STAMP)
	$(BIN)/python -m server serve --migrate --demo

## ruff (style, imports, common bugs) and mypy (strict on games/, scoring/, server/); settings in pyproject.toml.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

## All tests (unit, integration, browser) on an embedded SQLite database.
test: $(STAMP)
	$(BIN)/python -m pytest

## The unit layer only (no server, database or browser): under a minute, for the edit-test loop.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m unit -q

## The database tests (storage, end to end, kill -9) against PostgreSQL.
test-postgres: $(STAMP)
	STRIDEVR_TEST_DATABASE_URL=$(PG_TEST_URL) $(BIN)/python -m pytest -m db

## A simulated patient plays 20 stepping trials on the demo station, for the patient named, with the
## credentials make run printed (the tools never pick a patient):
##   make sim TOKEN=<device token> HEADSET_TOKEN=<headset token> PASSWORD=<demo password> PATIENT=DEMO-001
## or steps in the stepping game already started on the station (from the panel):
##   make sim TOKEN=<device token> HEADSET_TOKEN=<headset token> JOIN=1
PATIENT ?=
JOIN    ?=
URL     ?= ws://127.0.0.1:8765
CA_FILE ?=
TLS     = $(if $(CA_FILE),--ca-file $(CA_FILE))
START   = $(if $(JOIN),--join,--therapist demo --password=$(PASSWORD) --patient=$(PATIENT))
sim: $(STAMP)
	$(BIN)/python -m clients.sim_tracker --url $(URL) $(TLS) --token=$(TOKEN) --headset-token=$(HEADSET_TOKEN) $(START) --trials 20

## Any game through a simulated device (GAME: stepping, reaching, weight_shift, treadmill,
## assessment; DEVICE: tracker, grid or cop, default the game's first):
##   make play TOKEN=<device token> HEADSET_TOKEN=<headset token> PASSWORD=<demo password> PATIENT=DEMO-001 GAME=reaching DEVICE=grid
## or whatever game runs on the station (started from the panel), to its end:
##   make play TOKEN=<device token> HEADSET_TOKEN=<headset token> JOIN=1
GAME   ?= reaching
DEVICE ?=
play: $(STAMP)
	$(BIN)/python -m clients.sim_player --url $(URL) $(TLS) --token=$(TOKEN) --headset-token=$(HEADSET_TOKEN) $(START) --game $(GAME) \
		$(if $(DEVICE),--device $(DEVICE)) $(if $(JOIN),,--trials 10)

clean:
	rm -rf $(VENV) build *.egg-info
