# Madoguchi. `make run` and `make test` install what is missing first.
SHELL := /bin/bash
GOVERSION := $(shell sed -n 's/^go \([0-9.]*\)$$/\1/p' go.mod)
# A Go fetched by build/deps.sh takes precedence when present.
export PATH := $(HOME)/.local/go-$(GOVERSION)/bin:$(PATH)

TAGS    := production,webkit2_41
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
BIN     := build/bin/madoguchi
GOFILES := $(shell find . -name '*.go' -not -path './frontend/node_modules/*') go.mod go.sum
WEBFILES := $(shell find frontend/src -type f) frontend/index.html frontend/package.json frontend/vite.config.ts frontend/tsconfig.json
LOCALES := $(wildcard locales/*.toml)

.PHONY: run test build bench deps test-deps frontend serve vet clean

## run: install what is missing, build, and open the window in demo mode
## (without a display, serve the UI to a browser instead).
run: deps build
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ]; then \
	  exec ./$(BIN); \
	else \
	  echo "No display: serving the UI to a browser instead (Ctrl-C stops)."; \
	  exec ./$(BIN) serve; \
	fi

## test: install what is missing and run every test, the real window and
## Chromium included.
test: test-deps build
	@unformatted=$$(gofmt -l $$(find . -name '*.go' -not -path './frontend/node_modules/*')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	go vet ./...
	MADOGUCHI_BIN=$(CURDIR)/$(BIN) MADOGUCHI_E2E=require go test -race -count=1 ./...

## build: the production binary at build/bin/madoguchi.
build: $(BIN)

$(BIN): frontend/dist/index.html $(GOFILES) $(LOCALES)
	CGO_ENABLED=1 go build -tags $(TAGS) -trimpath -ldflags "$(LDFLAGS)" -o $@ .

frontend: frontend/dist/index.html

frontend/dist/index.html: $(WEBFILES) frontend/node_modules/.package-lock.json
	cd frontend && npm run build --silent

frontend/node_modules/.package-lock.json: frontend/package-lock.json
	build/deps.sh

deps:
	@build/deps.sh

test-deps:
	@build/deps.sh test

## bench: benchmarks, the window's cold start and memory included.
bench: test-deps build
	MADOGUCHI_BIN=$(CURDIR)/$(BIN) go test -run '^$$' -bench . -benchmem -benchtime 5x . ./drivers/card/...
	go test -run '^$$' -bench . -benchtime 3s ./drivers/jlis/
	go test -run '^$$' -bench EnqueueDurable -benchtime 3000x ./app/queue/
	go test -run '^$$' -bench 'Drain10000|RecoveryDetection' -benchtime 3x ./app/queue/
	go test -run '^$$' -bench RenderReceipt -benchtime 50x ./printing/
	go test -run '^$$' -bench PNG -benchtime 200x ./app/faceimg/
	go test -run '^$$' -bench Daily100k -benchtime 5x ./app/report/

## serve: the UI for a browser on http://127.0.0.1:8080/
serve: build
	./$(BIN) serve

vet:
	go vet ./...

clean:
	rm -rf build/bin build/artifacts frontend/dist
