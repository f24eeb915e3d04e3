# The two promises of the README: `make run` starts the whole system on the embedded
# default, `make test` passes from a fresh clone.
GO ?= go

.PHONY: run test vet tidy-check openapi lint-openapi bench test-esdb build fuzz loadtest

# The version --version, /healthz and benefits_build_info report: the nearest tag and
# commit (v1.4.0-3-gabc1234-dirty), or the commit alone in a clone without tags.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/benefits ./cmd/benefits

# Runs the built binary rather than `go run`, so Ctrl-C reaches the service itself and a
# clean shutdown exits 0.
run: build
	./bin/benefits serve

vet:
	$(GO) vet ./...

test: vet tidy-check
	$(GO) test -race -timeout 30m ./...

# go.mod and go.sum say exactly what the code imports: fails, printing the diff, when
# `go mod tidy` would change them.
tidy-check:
	$(GO) mod tidy -diff

# The OpenAPI document clients build against, api/openapi.json, is the one the server
# serves: regenerate it after changing a route, a body type or an error code
# (TestCommittedOpenAPIDocumentIsTheServedOne fails in `make test` until you do).
openapi:
	$(GO) test -count=1 -run '^TestCommittedOpenAPIDocumentIsTheServedOne$$' ./cmd/benefits -update-openapi

# Lints api/openapi.json with Redocly CLI (pinned in api/lint, installed by npm ci;
# needs Node.js), its recommended rules with warnings as errors.
REDOCLY := api/lint/node_modules/.bin/redocly
$(REDOCLY): api/lint/package.json api/lint/package-lock.json
	npm ci --prefix api/lint --no-audit --no-fund --loglevel=error
	touch $@

lint-openapi: $(REDOCLY)
	REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true $(REDOCLY) lint --config api/lint/redocly.yaml api/openapi.json

# A short fuzzing pass over the strict JSON binder, its one-pass decode against the careful path, every command route's body, and the access-log formatter against slog's handlers; longer runs: FUZZTIME=10m.
FUZZTIME ?= 15s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzStrictBind$$' -fuzztime $(FUZZTIME) ./handlers
	$(GO) test -run '^$$' -fuzz '^FuzzOneDecodeAcceptsOnlyWhatTheCarefulPathAccepts$$' -fuzztime $(FUZZTIME) ./handlers
	$(GO) test -run '^$$' -fuzz '^FuzzCommandBodies$$' -fuzztime $(FUZZTIME) ./cmd/benefits
	$(GO) test -run '^$$' -fuzz '^FuzzLineMatchesSlogHandler$$' -fuzztime $(FUZZTIME) ./infra/logline

# Benchmarks: figures in the README come from here (medians of -count runs).
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./... | tee bench.txt

# The event-store contract suite against a real EventStoreDB server (ESDB_URL required).
test-esdb:
	@test -n "$$ESDB_URL" || { echo "set ESDB_URL, e.g. esdb://localhost:2113?tls=false"; exit 2; }
	$(GO) test -race -run 'Contract' ./infra/esdbstore/...

# Sizes this machine: a fresh `benefits serve` on a temporary data dir and a free port,
# every load-test scenario briefly against it, then stop. One scenario with your own
# flags: make loadtest LOADTEST_ARGS="--scenario commands --clients 64 --duration 30s".
LOADTEST_ARGS ?=
loadtest: build
	scripts/loadtest.sh $(LOADTEST_ARGS)
