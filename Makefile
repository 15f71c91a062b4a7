# StrideVR: `make run` to start a demo server, `make test` to run the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PG_TEST_URL ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: install run test test-postgres sim play clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## Migrate data/stridevr.sqlite3, seed the demo clinic (fresh credentials printed), serve on :8765.
run: $(STAMP)
	$(BIN)/python -m server serve --migrate --demo

## All tests on an embedded SQLite database.
test: $(STAMP)
	$(BIN)/python -m pytest

## The database tests (storage, end to end, kill -9) against PostgreSQL.
test-postgres: $(STAMP)
	STRIDEVR_TEST_DATABASE_URL=$(PG_TEST_URL) $(BIN)/python -m pytest -m db

## A simulated patient plays 20 trials on the demo station, with the credentials make run printed:
##   make sim TOKEN=<station token> PASSWORD=<demo password>
sim: $(STAMP)
	$(BIN)/python -m clients.sim_tracker --token=$(TOKEN) --therapist demo --password=$(PASSWORD) --trials 20

## Any game through any simulated device (tracker markers, pressure grid or force-plate COP):
##   make play TOKEN=<station token> PASSWORD=<demo password> GAME=reaching DEVICE=grid
GAME   ?= reaching
DEVICE ?= tracker
play: $(STAMP)
	$(BIN)/python -m clients.sim_player --token=$(TOKEN) --therapist demo --password=$(PASSWORD) \
		--game $(GAME) --device $(DEVICE) --trials 10

clean:
	rm -rf $(VENV) build *.egg-info
