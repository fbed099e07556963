# Vistara / vimana. `make help` lists targets.
GO        ?= go
TAGS      ?= seccomp
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null)
LDFLAGS   := -X github.com/vistara-labs/vimana/internal/buildinfo.Version=$(VERSION) \
             -X github.com/vistara-labs/vimana/internal/buildinfo.Commit=$(COMMIT)
BIN       := bin/vimana

.PHONY: devnet devnet-down proto help setup build test test-short vet fmt hello-image run-hello bench clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

setup: ## install system packages (root; idempotent)
	@bash scripts/setup.sh

build: ## build bin/vimana (and bin/vimana-agent, the microvm guest init)
	$(GO) build -tags '$(TAGS)' -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/vimana
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w' -o bin/vimana-agent ./internal/hypercore/microvm/agent/vimana-agent

hello-image: build ## build the hello example's OCI image into examples/hello/image
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/hello ./examples/hello
	$(BIN) image build --binary bin/hello --entrypoint /hello --port 8080 --output oci-layout:examples/hello/image:latest

devnet: hello-image ## start a 4-node local devnet and deploy the hello spacecore onto it (root)
	bash scripts/devnet-demo.sh

devnet-down: ## stop the local devnet
	$(BIN) devnet down --home .devnet

run-hello: hello-image ## run the hello spacecore in the foreground (Ctrl-C stops it)
	$(BIN) run examples/hello/hac.toml

vet: ## go vet + gofmt check
	$(GO) vet -tags '$(TAGS)' ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }

test: setup vet ## the full test suite (root runs the sandbox tests for real)
	$(GO) test -tags '$(TAGS)' -count=1 -p 1 -timeout 25m ./...

test-short: ## unit tests only
	$(GO) test -tags '$(TAGS)' -short -count=1 ./...

bench: build ## benchmark harnesses (figures go to docs/benchmarks.md; root)
	$(GO) run -tags '$(TAGS)' ./bench/start -n 200 -density 1000
	$(GO) run -tags '$(TAGS)' ./bench/node -vimana $(BIN) -n 50

clean: ## remove build outputs
	rm -rf bin

proto: ## regenerate api/ Go code (protoc from Debian; plugins via go install)
	GOBIN=$(CURDIR)/bin $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
	GOBIN=$(CURDIR)/bin $(GO) install connectrpc.com/connect/cmd/protoc-gen-connect-go@v1.21.1
	PATH=$(CURDIR)/bin:$$PATH protoc -I api --go_out=api --go_opt=paths=source_relative \
		--connect-go_out=api --connect-go_opt=paths=source_relative api/vimana/v1/vimana.proto api/vimana/v1/lease.proto
