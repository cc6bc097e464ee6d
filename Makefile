# council-probes: health probes for a local LLM inference server.
# `make help` lists the targets. Everything here calls `go`; the only
# script is the demo, which shows an operator the commands it runs.

GO       ?= go
BIN      ?= bin
PREFIX   ?= $(HOME)/.local/bin
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
# urfave_cli_no_docs drops the man-page generator (and its markdown
# dependencies) from every binary: ~330 KB each, nothing the probes use.
LDFLAGS  := -s -w -X github.com/sanctum/council-probes/pkg/probe.Version=$(VERSION)
# Every module of the workspace that holds Go code (a module still being
# born, with only a go.mod, is skipped).
MODULES  := $(sort $(foreach m,$(patsubst %/go.mod,%,$(wildcard go.mod */go.mod */*/go.mod)),$(if $(wildcard $(m)/*.go $(m)/*/*.go $(m)/*/*/*.go $(m)/*/*/*/*.go),$(m))))
# Binaries: the probes, council-status, the plist and unit installers and
# the simulators used by the demo, the bench and tests (council-sim, Force
# Flow's, the fake launchd's launchctl, the simulated systemd's systemctl
# and journalctl).
CMDS     := $(wildcard probes/*/cmd/council-*) $(wildcard status/cmd/council-*) $(wildcard plists/cmd/council-*) $(wildcard units/cmd/council-*) pkg/testkit/councilsim/cmd/council-sim pkg/testkit/forceflowsim/cmd/forceflow-sim pkg/testkit/launchdsim/cmd/fake-launchctl pkg/testkit/systemdsim/cmd/fake-systemctl pkg/testkit/systemdsim/cmd/fake-journalctl
# What `make install` installs: every probe (probes/<name>/cmd/council-<name>;
# integration/registry_test.go holds them to the registry in pkg/core/suite)
# and council-status.
PROBES   := $(notdir $(wildcard probes/*/cmd/council-*)) council-status
FUZZTIME ?= 5s
# staticcheck, pinned; `make tools` installs it with go install (from the
# module proxy) into GOPATH/bin, and lint installs it if it is missing.
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(shell $(GO) env GOPATH)/bin/staticcheck

.PHONY: help build test test-real vet fmt fmt-check lint staticcheck depcheck depaware tools cross fuzz bench demo docs install install-plists uninstall-plists install-units uninstall-units clean

help: ## list the targets
	@awk 'BEGIN{FS=":.*## "} /^[a-z-]+:.*## /{printf "  make %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# CGO_ENABLED=0: static binaries. A probe is a short process started every
# few seconds or minutes, and a dynamically linked Go binary pays for the
# dynamic loader and glibc's thread start-up on every run: measured on the
# build machine, `council-pace --version` fell from about 21 to 12 ms of CPU.
# The probes need no C library (no os/user; their URLs are loopback
# addresses, which the pure-Go resolver handles).
build: ## build every binary into ./bin (static, stripped, version stamped)
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -trimpath -tags urfave_cli_no_docs -ldflags '$(LDFLAGS)' -o $(BIN)/ $(addprefix ./,$(CMDS))

test: vet ## go vet and go test -race over every module (the README's test command)
	@set -e; for m in $(MODULES); do echo "== test $$m"; (cd $$m && $(GO) test -race -count=1 ./...); done

# The real tier's tests carry the build tag "real" (make test stays fast);
# vet, staticcheck and the darwin builds see them through TAGS.
TAGS := real
REAL_TIMEOUT ?= 60m
test-real: ## every probe against a real Ollama built from source (cached; the first build takes minutes). REAL_UPDATE=1 re-records its answers
	cd integration && REAL_UPDATE=$(REAL_UPDATE) $(GO) test -tags $(TAGS) -race -count=1 -timeout $(REAL_TIMEOUT) -v ./real/

vet: ## go vet every module
	@set -e; for m in $(MODULES); do (cd $$m && $(GO) vet -tags $(TAGS) ./...); done

fmt: ## gofmt the tree
	gofmt -w $$(git ls-files '*.go')

fmt-check: ## fail if any file is not gofmt-formatted
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "not gofmt-formatted:"; echo "$$out"; exit 1; fi

lint: fmt-check vet cross staticcheck depcheck ## gofmt, vet, staticcheck, each module on its own (GOWORK=off), the darwin builds, and each binary's dependencies and size
	@set -e; for m in $(MODULES); do echo "== standalone $$m"; (cd $$m && GOWORK=off $(GO) build ./... && GOWORK=off $(GO) vet ./...); done

tools: ## install the pinned staticcheck (go install, from the module proxy)
	$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

staticcheck: ## staticcheck every module (installs the pinned version if missing)
	@$(STATICCHECK) -version 2>/dev/null | grep -qF '($(patsubst v%,%,$(STATICCHECK_VERSION)))' || $(MAKE) --no-print-directory tools
	@set -e; for m in $(MODULES); do echo "== staticcheck $$m"; (cd $$m && $(STATICCHECK) -tags $(TAGS) ./...); done

depcheck: build ## each binary links what its depaware.txt lists, none it forbids, within its size budget
	$(GO) run ./integration/cmd/council-depaware -bin $(BIN) $(addprefix ./,$(CMDS))

depaware: build ## regenerate each binary's depaware.txt (a new binary gets one; budgets and forbid lines are kept)
	$(GO) run ./integration/cmd/council-depaware -update -bin $(BIN) $(addprefix ./,$(CMDS))

cross: ## cross-compile and vet every module for darwin/arm64 and darwin/amd64
	@set -e; for arch in arm64 amd64; do for m in $(MODULES); do echo "== darwin/$$arch $$m"; \
		(cd $$m && GOOS=darwin GOARCH=$$arch $(GO) build ./... && GOOS=darwin GOARCH=$$arch $(GO) vet -tags $(TAGS) ./...); done; done

# council-fuzz (integration/cmd/council-fuzz) runs each target in turn and
# tells a found bug from Go 1.26's own coordinator race at the end of a
# duration budget (golang/go#75804): that one is run once more, for as many
# inputs as a count, which has no deadline to race.
fuzz: ## run every fuzz target for FUZZTIME each (default 5s; a count such as 20000x also works)
	$(GO) run ./integration/cmd/council-fuzz -go $(GO) -fuzztime $(FUZZTIME) $(MODULES)

bench: build ## measure the probes against their shell/openssl baselines; results in bench-results/
	$(GO) run ./integration/cmd/council-bench -bin $(BIN) -out bench-results

demo: build ## run every probe against the bundled council simulator, then inject faults
	@bash scripts/demo.sh $(BIN)

# The flag tables under docs/ are generated from each binary's --help;
# make test fails when they differ (integration/docs_test.go).
docs: ## rewrite the flag tables of docs/ from each binary's --help (then review the diff)
	cd integration && $(GO) test -count=1 -run '^TestDocFlagTables$$' -update-docs .

install: build ## install the binaries into PREFIX (default ~/.local/bin)
	@mkdir -p $(PREFIX)
	@for b in $(PROBES); do install -m 0755 $(BIN)/$$b $(PREFIX)/$$b && echo "installed $(PREFIX)/$$b"; done

# DRY_RUN=1 (or true/yes) renders, validates and prints the launchctl (or
# systemctl) commands only; a real install needs the binaries installed
# first.
DRY := $(filter 1 true yes,$(DRY_RUN))
install-plists: $(if $(DRY),build,install) ## render, validate, write and load one LaunchAgent per probe (DESTDIR=..., DRY_RUN=1)
	$(BIN)/council-plists install --bindir $(PREFIX) $(if $(DESTDIR),--destdir $(DESTDIR)) $(if $(DRY),--dry-run)

uninstall-plists: build ## boot out and remove the probes' LaunchAgents (DESTDIR=..., DRY_RUN=1)
	$(BIN)/council-plists uninstall $(if $(DESTDIR),--destdir $(DESTDIR)) $(if $(DRY),--dry-run)

# The systemd counterparts (Linux): one user service and timer per probe in
# ~/.config/systemd/user, enabled with systemctl --user. Like the plists,
# council-units runs from the build dir; it is not installed into PREFIX.
install-units: $(if $(DRY),build,install) ## render, validate, write and enable one systemd user service and timer per probe (DESTDIR=..., DRY_RUN=1)
	$(BIN)/council-units install --bindir $(PREFIX) $(if $(DESTDIR),--destdir $(DESTDIR)) $(if $(DRY),--dry-run)

uninstall-units: build ## disable and remove the probes' systemd user units (DESTDIR=..., DRY_RUN=1)
	$(BIN)/council-units uninstall $(if $(DESTDIR),--destdir $(DESTDIR)) $(if $(DRY),--dry-run)

clean: ## remove build and demo output
	rm -rf $(BIN) .demo
